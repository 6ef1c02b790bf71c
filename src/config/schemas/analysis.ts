import { z } from 'zod';
import { duration, positiveDuration, timerDuration } from '../duration.js';
import { compile, ExpressionError } from '../expression.js';
import { API_VERSION, exactlyOne, httpUrl, metadata, name } from './common.js';
import { kayentaCanaryConfig, type KayentaCanaryConfig } from './kayenta.js';
import { parseJsonPath } from '../json-path.js';
import { PROMETHEUS_PRESETS, unknownVariables } from '../query-template.js';

const probability = (what: string) => z.number().gt(0, `must be above 0 (${what})`).lt(1, `must be below 1 (${what})`);

/** What a condition can read: the measured value, and the same query about stable or the baseline. */
const CONDITION_NAMES = ['result', 'control'];

/** A condition, compiled at load time so a syntax error or a name it cannot know is reported at its line in the file. */
const condition = z.string().superRefine((text, ctx) => {
  try {
    const unknown = compile(text).names.filter((n) => !CONDITION_NAMES.includes(n));
    if (unknown.length > 0)
      ctx.addIssue({
        code: 'custom',
        message: `reads ${unknown.map((n) => `"${n}"`).join(', ')}, which a condition does not know (it knows result, and control: the same query about stable or the baseline)`,
        input: text,
      });
  } catch (err) {
    if (err instanceof ExpressionError) ctx.addIssue({ code: 'custom', message: err.message, input: text });
    else throw err;
  }
});

/** kanari's own router statistics, per version (the `builtin` provider). */
export const builtinQuery = z
  .strictObject({
    signal: z.enum(['successRate', 'errorRate', 'requests', 'latency']),
    /** For `latency`: which quantile, in (0, 1). */
    quantile: probability('a quantile such as 0.99').optional(),
    version: z.enum(['canary', 'stable', 'baseline']).default('canary'),
  })
  .superRefine((q, ctx) => {
    if (q.signal === 'latency' && q.quantile === undefined)
      ctx.addIssue({
        code: 'custom',
        message: 'a latency signal needs a quantile, such as 0.99',
        path: ['quantile'],
        input: q,
      });
    if (q.signal !== 'latency' && q.quantile !== undefined)
      ctx.addIssue({
        code: 'custom',
        message: `only a latency signal takes a quantile (this one is ${q.signal})`,
        path: ['quantile'],
        input: q,
      });
  });
export type BuiltinQuery = z.output<typeof builtinQuery>;

const versionName = z.enum(['canary', 'stable', 'baseline']);

/** A string with `{{…}}` variables, checked at load time. */
const template = z
  .string()
  .min(1)
  .superRefine((text, ctx) => {
    const unknown = unknownVariables(text);
    if (unknown.length > 0)
      ctx.addIssue({
        code: 'custom',
        message: `unknown variable ${unknown.map((v) => `{{${v}}}`).join(', ')} (known: {{service}}, {{version}}, {{target}}, {{window}}, {{quantile}})`,
        input: text,
      });
  });

const headers = z.record(z.string(), z.string()).default({});

/** A Prometheus HTTP API query: written out, or one of the presets. */
export const prometheusQuery = z
  .strictObject({
    address: httpUrl,
    query: template.optional(),
    preset: z.enum(Object.keys(PROMETHEUS_PRESETS) as [string, ...string[]]).optional(),
    /** What `{{version}}` stands for. */
    version: versionName.default('canary'),
    /** The name the mesh or ingress knows each version by (`{{target}}`); default `<service>-<version>`. */
    targets: z.partialRecord(versionName, z.string().min(1)).default({}),
    /** For latency presets and queries using `{{quantile}}`. */
    quantile: probability('a quantile such as 0.99').optional(),
    /** The range `{{window}}` stands for; default the measurement's window. */
    window: duration.optional(),
    timeout: timerDuration.default(5000),
    headers,
  })
  .superRefine(exactlyOne(['query', 'preset']))
  .superRefine((q, ctx) => {
    const text = q.query ?? (q.preset ? PROMETHEUS_PRESETS[q.preset]!.query : '');
    if (text.includes('{{quantile}}') && q.quantile === undefined)
      ctx.addIssue({
        code: 'custom',
        message: 'this query uses {{quantile}}; set quantile, such as 0.99',
        path: ['quantile'],
        input: q,
      });
  });
export type PrometheusQuery = z.output<typeof prometheusQuery>;

/** Any HTTP endpoint answering JSON; `jsonPath` picks the value (`$.data.ok`, `{$.items[0].value}`). */
export const webQuery = z.strictObject({
  url: template.refine((u) => /^https?:\/\//.test(u), 'must be an http:// or https:// URL'),
  method: z.enum(['GET', 'POST']).default('GET'),
  headers,
  body: template.optional(),
  jsonPath: z.string().superRefine((text, ctx) => {
    try {
      parseJsonPath(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message, input: text });
    }
  }),
  version: versionName.default('canary'),
  targets: z.partialRecord(versionName, z.string().min(1)).default({}),
  timeout: timerDuration.default(5000),
});
export type WebQuery = z.output<typeof webQuery>;

export const provider = z
  .strictObject({ builtin: builtinQuery.optional(), prometheus: prometheusQuery.optional(), web: webQuery.optional() })
  .superRefine(exactlyOne(['builtin', 'prometheus', 'web']));
export type ProviderQuery = z.output<typeof provider>;

export const thresholdMetric = z.strictObject({
  name,
  provider,
  successCondition: condition.optional(),
  failureCondition: condition.optional(),
  interval: duration.optional(),
  count: z.number().int().positive().optional(),
  initialDelay: duration.default(0),
  failureLimit: z.number().int().min(0).default(0),
  inconclusiveLimit: z.number().int().min(0).default(0),
  consecutiveErrorLimit: z.number().int().min(0).default(4),
  /** Measurements with a value (not empty, not an error) a pass needs; it measures past `count` until it has them. */
  minMeasurements: z.number().int().min(1).default(1),
  dryRun: z.boolean().default(false),
});
export type ThresholdMetric = z.output<typeof thresholdMetric>;

export const sequentialMetric = z.discriminatedUnion('kind', [
  z.strictObject({ name, kind: z.literal('errors'), weight: z.number().positive().default(1) }),
  z.strictObject({ name, kind: z.literal('slow'), threshold: duration, weight: z.number().positive().default(1) }),
  z.strictObject({
    name,
    kind: z.literal('latency'),
    quantiles: z.array(probability('a quantile such as 0.99')).min(1).default([0.5, 0.9, 0.99]),
    weight: z.number().positive().default(1),
  }),
]);

const metricName = z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a Prometheus metric name');
const labelName = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'must be a Prometheus label name');

/**
 * The sequential judge's counts from Prometheus: raw samples of request counters and
 * histogram buckets, per version. The defaults read kanari's own router's /metrics.
 */
export const prometheusCounts = z.strictObject({
  address: httpUrl,
  /** Exact label values every series must have; `{{service}}` stands for the rollout's service. */
  labels: z
    .record(
      labelName,
      z
        .string()
        .min(1)
        .refine((v) => !/\{\{(?!service\}\})/.test(v), 'only {{service}} may stand in a label value'),
    )
    .default({ service: '{{service}}' }),
  /**
   * The label that says which version served, and its value for each version (default the
   * version's name); a list where several series name one version (Envoy Gateway counts each
   * HTTPRoute rule apart), whose counts are summed.
   */
  versionLabel: labelName.default('version'),
  versions: z
    .partialRecord(versionName, z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(64)]))
    .refine((v) => {
      const values = Object.values(v).flat();
      return new Set(values).size === values.length;
    }, 'a label value may name one version only')
    .default({}),
  /** A counter of responses, one series per version and status. */
  requests: metricName.default('kanari_router_requests_total'),
  /** Which of the requests series are errors: a label of that counter and a regex (PromQL, fully anchored) of its values. */
  errors: z
    .strictObject({ label: labelName.default('code'), regex: z.string().min(1).default('5xx') })
    .default({ label: 'code', regex: '5xx' }),
  /** A classic histogram's name (its `_bucket` series are read), or false when there is none. */
  latency: z.union([metricName, z.literal(false)]).default('kanari_router_request_duration_seconds'),
  /** The unit of the histogram's `le` bounds: Istio's and Envoy's histograms count milliseconds. */
  latencyUnit: z.enum(['seconds', 'milliseconds']).default('seconds'),
  timeout: timerDuration.default(5000),
  headers,
});
export type PrometheusCounts = z.output<typeof prometheusCounts>;

export const sequentialSpec = z
  .strictObject({
    /** Where the counts come from; without it, kanari's own router (the builtin provider). */
    source: z.strictObject({ prometheus: prometheusCounts }).optional(),
    alpha: probability('the chance of a false rollback over the whole analysis').default(0.05),
    /**
     * What the test counts as one observation. `users`: each stickiness key once per kind of
     * event, valid however users cluster their requests (needs a source that counts keys).
     * `requests`: each request, valid only where each request is assigned a version on its
     * own. `auto`: users where the source counts keys, else requests.
     */
    unit: z.enum(['auto', 'users', 'requests']).default('auto'),
    metrics: z
      .array(sequentialMetric)
      .min(1)
      .default([
        { name: 'errors', kind: 'errors', weight: 2 },
        { name: 'latency', kind: 'latency', quantiles: [0.5, 0.9, 0.99], weight: 1 },
      ]),
    srm: z
      .union([
        z.literal(false),
        z.strictObject({
          tolerance: z.number().positive().default(0.3),
          alpha: probability("the guard's own error rate").default(0.001),
        }),
      ])
      .default({ tolerance: 0.3, alpha: 0.001 }),
    promotion: z
      .strictObject({
        minRequests: z.number().int().min(0).default(0),
        /** Distinct canary users (stickiness keys) a pass needs, where the count source sees users. */
        minUsers: z.number().int().min(0).default(0),
        noWorseThan: z.number().gt(1, 'must be a ratio above 1, such as 1.5').optional(),
      })
      .default({ minRequests: 0, minUsers: 0 }),
  })
  .superRefine((spec, ctx) => {
    if (spec.unit === 'users' && spec.source?.prometheus)
      ctx.addIssue({
        code: 'custom',
        message:
          "counts from Prometheus have no user dimension, so they cannot count users; count from kanari's own router (drop source), or use unit: requests where each request is assigned a version on its own",
        path: ['unit'],
        input: spec.unit,
      });
    if (spec.unit === 'users' && spec.promotion.noWorseThan !== undefined)
      ctx.addIssue({
        code: 'custom',
        message:
          '"no worse than" cannot be shown counting users (a user fails once, so the canary\'s share of failing users drifts back to its share of users); ask for promotion.minUsers instead',
        path: ['promotion', 'noWorseThan'],
        input: spec.promotion.noWorseThan,
      });
    if (spec.source?.prometheus.latency !== false) return;
    spec.metrics.forEach((m, i) => {
      if (m.kind !== 'errors')
        ctx.addIssue({
          code: 'custom',
          message: `metric "${m.name}" (${m.kind}) needs latency buckets, but source.prometheus.latency is false; name a histogram or drop the metric`,
          path: ['metrics', i],
          input: m,
        });
    });
  });

/**
 * Kayenta's judge over a Kayenta canary config, brought unchanged (inline, or the path
 * of its JSON file relative to this file). Every `interval` the run fetches each
 * metric's series for canary and control (one value per `step`) and scores them; an
 * interval scoring at or below `marginal` fails the analysis at once, and after
 * `count` intervals the last score must reach `pass` (Spinnaker's rules).
 */
export const kayentaSpec = z
  .strictObject({
    config: z.union([z.string().min(1), kayentaCanaryConfig]),
    /** Where each metric of the config comes from, by its name; `version` is set per side. */
    metrics: z.record(z.string().min(1), provider),
    interval: positiveDuration.default(60_000),
    step: positiveDuration.default(10_000),
    count: z.number().int().positive().optional(),
    /** Judge only the last `lookback` of data each interval; default everything since the run began. */
    lookback: duration.optional(),
    /** Points a metric needs on each side; an interval where no metric has them is not scored (not failed, as Kayenta would). */
    minPoints: z.number().int().min(1).default(1),
    thresholds: z.strictObject({ pass: z.number().min(0).max(100), marginal: z.number().min(0).max(100) }).optional(),
  })
  .superRefine((k, ctx) => {
    if (k.step > k.interval)
      ctx.addIssue({ code: 'custom', message: 'step must not be longer than interval', path: ['step'], input: k.step });
    if (typeof k.config !== 'string') {
      for (const issue of missingKayentaSources(k.config, k.metrics))
        ctx.addIssue({ code: 'custom', message: issue, path: ['metrics'], input: k.metrics });
    }
  });
export type KayentaSpec = z.output<typeof kayentaSpec>;

/** The config's metrics that `metrics` gives no source for, and sources for metrics the config lacks. */
export function missingKayentaSources(config: KayentaCanaryConfig, metrics: Record<string, unknown>): string[] {
  const names = config.metrics.map((m) => m.name);
  const out: string[] = [];
  for (const n of names)
    if (!(n in metrics)) out.push(`no source for the canary config's metric "${n}"; add it under metrics`);
  for (const n of Object.keys(metrics))
    if (!names.includes(n)) out.push(`"${n}" is not a metric of the canary config (it has: ${names.join(', ')})`);
  return out;
}

/**
 * The kanari series judge: every `interval`, each metric's series for canary and control
 * (one point per `step`, since the run began) are paired by time and tested — the level
 * of the difference against control's own autocorrelated noise, or, when control never
 * moves, an exact count of the steps worse and better. α is split over metrics and looks,
 * so the whole analysis fails an A/A canary at most α of the time.
 */
export const seriesMetric = z.strictObject({
  name,
  provider,
  /** Which way is worse for this metric. */
  worse: z.enum(['increase', 'decrease', 'either']).default('increase'),
  /** A difference (canary − control, in the metric's units) that does not matter; default 0 to fail, 10% of control to pass. */
  tolerance: z.number().min(0).optional(),
  /** What a missing point is: skipped with its pair, or zero (a count whose series has no point when nothing happened). */
  missing: z.enum(['skip', 'zero']).default('skip'),
});

export const seriesSpec = z
  .strictObject({
    alpha: probability('the chance of failing an A/A canary over the whole analysis').default(0.05),
    metrics: z.array(seriesMetric).min(1),
    interval: positiveDuration.default(300_000),
    step: positiveDuration.default(10_000),
    /** Looks: one per interval; the last decides a pass. */
    count: z.number().int().positive().default(1),
    /** Fewer paired points than this is Inconclusive. */
    minPoints: z.number().int().min(3).default(10),
  })
  .superRefine((s, ctx) => {
    if (s.step > s.interval)
      ctx.addIssue({ code: 'custom', message: 'step must not be longer than interval', path: ['step'], input: s.step });
    const points = Math.floor((s.interval * s.count) / s.step);
    if (points < s.minPoints)
      ctx.addIssue({
        code: 'custom',
        message: `the last look has ${points} point(s) (interval × count / step), fewer than minPoints, so it could never judge; lengthen interval or count, or shorten step`,
        path: ['minPoints'],
        input: s.minPoints,
      });
    const seen = new Set<string>();
    s.metrics.forEach((m, i) => {
      if (seen.has(m.name))
        ctx.addIssue({
          code: 'custom',
          message: `this metric name is used twice`,
          path: ['metrics', i, 'name'],
          input: m.name,
        });
      seen.add(m.name);
    });
  });
export type SeriesSpec = z.output<typeof seriesSpec>;

export const analysisTemplateSpec = z
  .strictObject({
    threshold: z.strictObject({ metrics: z.array(thresholdMetric).min(1) }).optional(),
    sequential: sequentialSpec.optional(),
    kayenta: kayentaSpec.optional(),
    series: seriesSpec.optional(),
  })
  .superRefine(exactlyOne(['threshold', 'sequential', 'kayenta', 'series']));
export type AnalysisTemplateSpec = z.output<typeof analysisTemplateSpec>;

export const analysisTemplateDocument = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('AnalysisTemplate'),
  /** `namespace`: where the template lives as a Kubernetes resource (a standalone controller ignores it). */
  metadata: metadata.extend({ namespace: name.optional() }),
  spec: analysisTemplateSpec,
});
export type AnalysisTemplateDocument = z.output<typeof analysisTemplateDocument>;

/** Which provider a query names (the schema lets it name exactly one). */
export function providerName(q: ProviderQuery): keyof ProviderQuery {
  return (Object.keys(q) as (keyof ProviderQuery)[]).find((k) => q[k] !== undefined)!;
}
