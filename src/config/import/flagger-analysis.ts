/**
 * Flagger's metric checks and webhooks as kanari's. Flagger checks every metric each
 * `interval` and rolls back after `threshold` failed checks; kanari's threshold judge
 * does the same per metric (`interval`, `failureLimit: threshold − 1`). A metric's own
 * `interval` is Flagger's query range, kanari's `window`.
 */
import { GATES } from '../schemas/rollout.js';
import { durationOf, labelName, substitute, UniqueNames } from './convert.js';
import { templateMetadata } from './metadata.js';
import type { Field } from './source.js';

type Json = Record<string, unknown>;

/** Flagger's two built-in checks, per mesh: kanari's preset, and the unit Flagger's threshold is in. */
const BUILTIN: Record<string, Record<string, { preset: string; scale: number; quantile?: number }>> = {
  istio: {
    'request-success-rate': { preset: 'istio/success-rate', scale: 100 },
    'request-duration': { preset: 'istio/latency', scale: 1000, quantile: 0.99 },
  },
  nginx: {
    'request-success-rate': { preset: 'nginx/success-rate', scale: 100 },
    'request-duration': { preset: 'nginx/latency', scale: 1000, quantile: 0.99 },
  },
};

export interface MetricContext {
  /** kanari's router name for the built-in checks (istio, nginx, gatewayapi, replicas). */
  router: string;
  prometheus: string;
  namespace: string;
  name: string;
  ingress?: string;
  templates: ReadonlyMap<string, Field>;
  interval: string;
  threshold: number;
  /** Blue/green: the checks a pre-promotion analysis makes. */
  count?: number;
}

export function flaggerMetrics(list: Field, ctx: MetricContext): Json[] {
  return list.list().flatMap((m): Json[] => {
    const made = flaggerMetric(m.map(), ctx);
    return made ? [made] : [];
  });
}

function condition(range: Field, scale: number): string | undefined {
  range.map();
  const parts: string[] = [];
  const min = range.get('min').num();
  const max = range.get('max').num();
  if (min !== undefined) parts.push(`result >= ${min / scale}`);
  if (max !== undefined) parts.push(`result <= ${max / scale}`);
  range.rest();
  return parts.length > 0 ? parts.join(' && ') : undefined;
}

function flaggerMetric(m: Field, ctx: MetricContext): Json | undefined {
  const name = m.get('name').str() ?? 'metric';
  const out: Json = { name: labelName(name), interval: ctx.interval, failureLimit: ctx.threshold - 1 };
  if (ctx.count !== undefined) out.count = ctx.count;
  const window = durationOf(m.get('interval'), false);
  let provider: Json | undefined;
  let scale = 1;
  if (m.has('templateRef')) provider = fromTemplate(m.get('templateRef').map(), m, ctx);
  else if (m.has('query')) provider = { address: ctx.prometheus, query: flaggerQuery(m.get('query'), m, ctx) };
  else {
    const builtin = BUILTIN[ctx.router]?.[name];
    if (!builtin) {
      m.drop(
        `Flagger's built-in ${name} check has no kanari preset for the ${ctx.router} router; write its query as a MetricTemplate; dropped`,
      );
      return undefined;
    }
    scale = builtin.scale;
    provider = { address: ctx.prometheus, preset: builtin.preset };
    if (builtin.quantile) provider.quantile = builtin.quantile;
  }
  if (!provider || provider.query === null) return undefined;
  if (window) provider.window = window;
  out.provider = { prometheus: provider };
  const cond = condition(m.get('thresholdRange'), scale);
  if (cond) out.successCondition = cond;
  m.rest({
    templateVariables: 'written into the query',
  });
  return out;
}

function fromTemplate(ref: Field, metric: Field, ctx: MetricContext): Json | undefined {
  const name = ref.get('name').str() ?? '';
  const namespace = ref.get('namespace').str();
  ref.rest();
  const template = ctx.templates.get(`${namespace ?? ctx.namespace}/${name}`) ?? ctx.templates.get(`*/${name}`);
  if (!template) {
    ref.drop(`no MetricTemplate ${name} in the files given (pass its file with another -f); the metric is dropped`);
    return undefined;
  }
  templateMetadata(template);
  const spec = template.get('spec').map();
  const p = spec.get('provider').map();
  const type = p.get('type').str() ?? 'prometheus';
  if (type !== 'prometheus') {
    p.get('type').drop(`kanari has no ${type} provider; query the same metric from Prometheus; the metric is dropped`);
    return undefined;
  }
  const address = p.get('address').str() ?? ctx.prometheus;
  p.rest({
    secretRef: 'kanari import does not read Secrets; give the credentials as headers; dropped',
    insecureSkipVerify: 'kanari verifies TLS certificates; dropped',
  });
  const query = flaggerQuery(spec.get('query'), metric, ctx);
  spec.rest();
  return { address, query };
}

/** Flagger's Go template variables as kanari's, or the values they stand for; null when one has none. */
function flaggerQuery(q: Field, metric: Field, ctx: MetricContext): string | null {
  const vars = metric.get('templateVariables').strings();
  const fixed = new Map<string, string>([
    ['namespace', ctx.namespace],
    ['name', ctx.name],
    ['target', '{{target}}'],
    ['service', '{{service}}'],
    ['interval', '{{window}}'],
    ...(ctx.ingress ? [['ingress', ctx.ingress] as const] : []),
  ]);
  const first = substitute(q.str() ?? '', '', fixed);
  const second = substitute(first.text, 'variables.', new Map(Object.entries(vars)));
  const missing = [...first.missing.filter((v) => !v.startsWith('variables.')), ...second.missing];
  if (missing.length === 0) return second.text;
  q.drop(`uses ${missing.map((v) => `{{ ${v} }}`).join(', ')}, which kanari cannot fill in; the metric is dropped`);
  return null;
}

const NOTIFIED: Record<string, string> = { 'post-rollout': 'post-rollout', event: 'event' };

/** Gates become kanari webhooks; post-rollout and event hooks, which hold nothing back, notifications. */
export function flaggerWebhooks(list: Field): { webhooks: Json[]; notifications: Json[] } {
  const webhooks: Json[] = [];
  const notifications: Json[] = [];
  const names = new UniqueNames();
  for (const hook of list.list()) {
    hook.map();
    const type = hook.get('type').str() ?? 'rollout';
    if (!NOTIFIED[type] && !(GATES as readonly string[]).includes(type)) {
      hook.drop(`kanari has no ${type} webhook; dropped`);
      continue;
    }
    const url = hook.get('url').str();
    const timeout = durationOf(hook.get('timeout'), false);
    const retries = hook.get('retries').int();
    hook.get('muteAlert').drop('kanari sends no alerts of its own for webhooks; dropped');
    if (NOTIFIED[type]) {
      hook.get('name');
      hook.get('metadata').drop("kanari's notifications carry kanari's payload only; dropped");
      const n: Json = { url, on: [NOTIFIED[type]] };
      if (timeout) n.timeout = timeout;
      if (retries !== undefined) n.retries = Math.min(retries, 10);
      notifications.push(n);
    } else {
      const name = names.take(hook.get('name').str() ?? type);
      const w: Json = { name, type, url, metadata: hook.get('metadata').strings() };
      if (timeout) w.timeout = timeout;
      if (retries !== undefined) w.retries = Math.min(retries, 10);
      webhooks.push(w);
    }
    hook.rest();
  }
  return { webhooks, notifications };
}
