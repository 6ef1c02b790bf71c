/**
 * A PrometheusRule (prometheus-operator's monitoring.coreos.com/v1) with alerts that say
 * what the rollout's analysis says, for the people on call: each threshold metric read
 * from Prometheus as its own alert (its query and condition, firing after as many failed
 * measurements as the judge tolerates), and, where the default sequential test judges
 * from a mesh's or ingress's counters, an error-rate and a latency alert comparing each
 * version with the whole service. These are a human's alerts, not the judge: they do not
 * roll anything back, and a rate over 5 minutes is not the judge's anytime-valid test.
 */
import type { KubeObject } from './api.js';
import { promDuration, renderTemplate, templateValues, PROMETHEUS_PRESETS } from '../config/query-template.js';
import { BUILTIN_TEMPLATES } from '../config/templates.js';
import { templateNamesOf } from '../config/checks.js';
import type { AnalysisTemplateSpec, ThresholdMetric } from '../config/schemas/analysis.js';
import { countPresetOf, routerNameOf, type KubernetesRolloutDocument } from '../config/schemas/kubernetes.js';
import { instanceName, presetCounts, type CountPreset } from '../config/presets/counts.js';

/** One Prometheus alerting rule, as a rule file and a PrometheusRule hold it. */
export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** The count presets whose version label is the version's workload, `<rollout>-<instance id>` (presets/counts.ts). */
const NAMED_BY_INSTANCE: readonly CountPreset[] = ['istio', 'ingress-nginx'];

export interface AlertsResult {
  rule: KubeObject;
  /** What could not be turned into an alert, and why: printed for the person who asked. */
  skipped: string[];
}

export function canaryAlerts(
  rollout: KubernetesRolloutDocument,
  templates: Record<string, AnalysisTemplateSpec>,
): AlertsResult {
  const name = rollout.metadata.name;
  const skipped: string[] = [];
  const rules: AlertRule[] = [];
  const known = { ...BUILTIN_TEMPLATES, ...templates };
  for (const t of templateNamesOf(rollout.spec)) {
    const spec = known[t];
    if (!spec) continue;
    if (spec.threshold)
      for (const m of spec.threshold.metrics) {
        const rule = thresholdAlert(rollout, t, m);
        if (typeof rule === 'string') skipped.push(rule);
        else rules.push(rule);
      }
    else if (spec.sequential && !spec.sequential.source) {
      const found = sequentialAlerts(rollout);
      if (typeof found === 'string') skipped.push(found);
      else rules.push(...found);
    } else skipped.push(`template "${t}": only threshold metrics and the default sequential test become alerts`);
  }
  const unique = [...new Map(rules.map((r) => [r.alert, r])).values()];
  return {
    skipped: [...new Set(skipped)],
    rule: {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: {
        name: `${name}-canary`,
        ...(rollout.metadata.namespace ? { namespace: rollout.metadata.namespace } : {}),
        labels: { 'app.kubernetes.io/managed-by': 'kanari', 'kanari.dev/rollout': name },
      },
      spec: { groups: [{ name: `kanari-${name}`, rules: unique }] },
    },
  };
}

const COMPARISON = /^\s*result\s*(>=|<=|>|<|==|!=)\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*$/i;
const NEGATED: Record<string, string> = { '>=': '<', '<=': '>', '>': '<=', '<': '>=', '==': '!=', '!=': '==' };

/** A threshold metric on Prometheus whose condition compares `result` with a number, as one alert. */
function thresholdAlert(rollout: KubernetesRolloutDocument, template: string, m: ThresholdMetric): AlertRule | string {
  const q = m.provider.prometheus;
  const what = `template "${template}" metric "${m.name}"`;
  if (!q) return `${what}: reads ${Object.keys(m.provider)[0]}, not Prometheus`;
  const condition = m.successCondition ?? m.failureCondition;
  const parsed = condition ? COMPARISON.exec(condition) : null;
  if (!parsed)
    return `${what}: its condition is not "result <op> number", which PromQL cannot say as it is (${condition ?? 'none'})`;
  const op = m.successCondition ? NEGATED[parsed[1]!]! : parsed[1]!;
  const interval = m.interval ?? 60_000;
  const text = q.query ?? PROMETHEUS_PRESETS[q.preset!]!.query;
  // The judge fills it with the version's Deployment (<rollout>-<version>): a name a fixed rule cannot know.
  if (/\{\{\s*target\s*\}\}/.test(text) && q.targets[q.version] === undefined)
    return `${what}: its query names the version by {{target}}, its Deployment ${instanceName(rollout.metadata.name, '<version>')}, which changes with every release; give the query targets, or write the alert by hand`;
  const query = renderTemplate(text, templateValues(q, rollout.spec.service.name, q.window ?? interval));
  return {
    alert: alertName(rollout.metadata.name, m.name),
    expr: `(${query}) ${op} ${parsed[2]}`,
    // The judge fails the metric at the (failureLimit + 1)th failed measurement, one interval apart.
    for: promDuration(interval * (m.failureLimit + 1)),
    labels: { severity: 'warning', rollout: rollout.metadata.name },
    annotations: {
      summary: `${rollout.metadata.name}: ${m.name} fails ${condition}`,
      description: `The threshold check "${m.name}" of analysis template "${template}", as an alert; kanari's judge acts on it by itself during a rollout.`,
    },
  };
}

/** The default sequential test's two signals, each version against the whole service over 5 minutes. */
function sequentialAlerts(rollout: KubernetesRolloutDocument): AlertRule[] | string {
  const preset = countPresetOf(rollout.spec);
  if (!preset || !NAMED_BY_INSTANCE.includes(preset))
    return `the sequential test: the ${preset ?? routerNameOf(rollout.spec.trafficRouting)} metrics do not name each version, so no rule can compare one with the rest`;
  const name = rollout.metadata.name;
  // The same metric and label names the judge reads (presets/counts.ts); the address is not part of a rule.
  const c = presetCounts(preset, {
    address: 'http://unused',
    namespace: rollout.metadata.namespace ?? 'default',
    versions: {},
  });
  // Each version runs as `<rollout>-<id>`; the id is a hash, so a rule names them all and compares each with the whole.
  const matchers = [
    ...Object.entries(c.labels).map(([k, v]) => `${k}="${v}"`),
    // A name's dots are literal; in a PromQL string a regex's backslash is written twice.
    `${c.versionLabel}=~"${instanceName(name.replaceAll('.', '\\\\.'), '.+')}"`,
  ];
  const rate = (metric: string, extra: string[], by: string) =>
    `sum${by ? ` by (${by}) ` : ''}(rate(${metric}{${[...matchers, ...extra].join(',')}}[5m]))`;
  const errors = [`${c.errors.label}=~"${c.errors.regex}"`];
  const errorRate = (by: string) => `${rate(c.requests, errors, by)} / ${rate(c.requests, [], by)}`;
  const toSeconds = c.latencyUnit === 'milliseconds' ? ' / 1000' : '';
  const p99 = (by: string) =>
    `histogram_quantile(0.99, ${rate(`${c.latency}_bucket`, [], by ? `${by}, le` : 'le')})${toSeconds}`;
  const labels = { severity: 'warning', rollout: name };
  const v = c.versionLabel;
  const rules: AlertRule[] = [
    {
      alert: alertName(name, 'error-rate'),
      expr: `(${errorRate(v)}) > 2 * scalar(${errorRate('')}) + 0.01`,
      for: '5m',
      labels,
      annotations: {
        summary: `${name}: version {{ $labels.${v} }} fails over twice as often as the service`,
        description:
          "Each version's share of 5xx over 5 minutes against the whole service's (2x, and a point above). A human's alert: kanari's sequential test judges the canary by itself.",
      },
    },
  ];
  if (c.latency === false) return rules;
  rules.push({
    alert: alertName(name, 'latency-p99'),
    expr: `(${p99(v)}) > 1.5 * scalar(${p99('')})`,
    for: '5m',
    labels,
    annotations: {
      summary: `${name}: version {{ $labels.${v} }} p99 latency is over 1.5x the service's`,
      description:
        "Each version's p99 latency over 5 minutes against the whole service's. A human's alert: kanari's sequential test judges the canary by itself.",
    },
  });
  return rules;
}

/** `KanariCheckoutErrorRate`: Prometheus alert names are identifiers; PascalCase reads in Alertmanager. */
function alertName(rollout: string, metric: string): string {
  const pascal = (s: string) =>
    s
      .split(/[^A-Za-z0-9]+/)
      .filter(Boolean)
      .map((w) => w[0]!.toUpperCase() + w.slice(1))
      .join('');
  return `Kanari${pascal(rollout)}${pascal(metric)}`;
}
