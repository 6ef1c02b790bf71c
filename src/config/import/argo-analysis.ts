/**
 * Argo Rollouts' AnalysisTemplates and ClusterAnalysisTemplates as kanari threshold
 * templates. Argo binds a template's `{{args.x}}` when a Rollout uses it; kanari
 * templates have no arguments, so each distinct binding becomes its own template, with
 * the values written into its queries.
 */
import { API_VERSION } from '../schemas/common.js';
import { argoCondition, durationOf, labelName, substitute, type UniqueNames } from './convert.js';
import { templateMetadata } from './metadata.js';
import type { Field } from './source.js';

/** An argument's value, or why kanari cannot know it. */
export type ArgValue = { value: string } | { unknown: string };

type Json = Record<string, unknown>;

const PROVIDER_REASONS: Record<string, string> = {
  job: 'kanari runs no Kubernetes Jobs as measurements; use a web provider, or a webhook gate that runs the job',
  datadog: 'kanari has no Datadog provider; query the same metric from Prometheus',
  newRelic: 'kanari has no New Relic provider; query the same metric from Prometheus',
  wavefront: 'kanari has no Wavefront provider; query the same metric from Prometheus',
  kayenta:
    'kanari runs Kayenta judgements itself (a kayenta template with the canary config) rather than calling a Kayenta server',
  cloudWatch: 'kanari has no CloudWatch provider; query the same metric from Prometheus',
  graphite: 'kanari has no Graphite provider; query the same metric from Prometheus',
  influxdb: 'kanari has no InfluxDB provider; query the same metric from Prometheus',
  skywalking: 'kanari has no SkyWalking provider; query the same metric from Prometheus',
  plugin: 'kanari loads no metric plugins',
};

export class ArgoTemplates {
  private readonly made = new Map<string, string | undefined>();
  readonly documents: Json[] = [];

  constructor(
    private readonly sources: ReadonlyMap<string, Field>,
    private readonly names: UniqueNames,
  ) {}

  /**
   * The kanari template for one `templates[i]` reference with the arguments the Rollout
   * passes, made once per binding; undefined (reported at the reference) when there is none.
   */
  use(ref: Field, args: ReadonlyMap<string, ArgValue>): string | undefined {
    const name = ref.get('templateName').str();
    const cluster = ref.get('clusterScope').bool() ?? false;
    ref.rest();
    if (!name) {
      ref.drop('names no templateName; dropped');
      return undefined;
    }
    const kind = cluster ? 'ClusterAnalysisTemplate' : 'AnalysisTemplate';
    const source = this.sources.get(`${kind}/${name}`);
    if (!source) {
      ref.drop(`no ${kind} named ${name} in the files given (pass its file with another -f); dropped`);
      return undefined;
    }
    templateMetadata(source);
    const spec = source.get('spec').map();
    const bound = bindArgs(spec.get('args'), args);
    const key = JSON.stringify([kind, name, [...bound].sort()]);
    if (!this.made.has(key)) this.made.set(key, this.convert(name, spec, bound));
    const made = this.made.get(key);
    if (!made) ref.drop(`${kind} ${name} has no metric kanari can run (see its own entries); dropped`);
    return made;
  }

  private convert(name: string, spec: Field, args: ReadonlyMap<string, ArgValue>): string | undefined {
    const dryRun = spec
      .get('dryRun')
      .list()
      .map((d) => d.map().get('metricName').str() ?? '');
    const metrics = spec
      .get('metrics')
      .list()
      .flatMap((m) => argoMetric(m.map(), args, dryRun) ?? []);
    spec.rest({
      measurementRetention: 'kanari keeps every measurement of a run; dropped',
      args: 'bound into each use of the template',
    });
    if (metrics.length === 0) return undefined;
    const out = this.names.take(name);
    this.documents.push({
      apiVersion: API_VERSION,
      kind: 'AnalysisTemplate',
      metadata: { name: out },
      spec: { threshold: { metrics } },
    });
    return out;
  }
}

/** The template's declared args, each from the Rollout's value or the template's default. */
function bindArgs(declared: Field, given: ReadonlyMap<string, ArgValue>): Map<string, ArgValue> {
  const out = new Map<string, ArgValue>();
  for (const arg of declared.list()) {
    arg.map();
    const name = arg.get('name').str();
    if (!name) continue;
    const fromRollout = given.get(name);
    const own = argValue(arg, 'the template');
    out.set(name, fromRollout ?? own ?? { unknown: 'neither the Rollout nor the template gives it a value' });
  }
  return out;
}

/**
 * One `args[i]` entry: a literal value, a field of the Rollout, or something only Argo
 * knows at run time (a pod template hash, a Secret).
 */
export function argValue(arg: Field, where: string, rollout?: Field): ArgValue | undefined {
  const value = arg.get('value').str();
  if (value !== undefined) return { value };
  const from = arg.get('valueFrom').map();
  if (!from.present) return undefined;
  if (from.has('podTemplateHashValue'))
    return {
      unknown: `it is the pod template hash (${String(from.get('podTemplateHashValue').value)}), which kanari's queries cannot name ({{target}} and {{version}} name versions instead)`,
    };
  if (from.has('secretKeyRef')) return { unknown: 'it comes from a Secret, which kanari import does not read' };
  const path = from.get('fieldRef').map().get('fieldPath').str();
  if (path && rollout) {
    const m = /^metadata\.(name|namespace)$|^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(path);
    const meta = rollout.get('metadata').map();
    const found = m?.[1] ? meta.get(m[1]).str() : m?.[2] ? meta.get(m[2]).map().get(m[3]!).str() : undefined;
    if (found !== undefined) return { value: found };
    return { unknown: `${where} reads ${path} of the Rollout, which kanari import cannot resolve` };
  }
  return { unknown: `${where} gives it from a source kanari import does not know` };
}

function argoMetric(m: Field, args: ReadonlyMap<string, ArgValue>, dryRun: string[]): Json | undefined {
  const name = m.get('name').str() ?? 'metric';
  const bind = (f: Field): string | undefined => {
    const text = f.str();
    if (text === undefined) return undefined;
    const known = new Map([...args].flatMap(([k, v]) => ('value' in v ? [[k, v.value] as const] : [])));
    const { text: out, missing } = substitute(text, 'args.', known);
    if (missing.length === 0) return out;
    const why = missing.map((a) => {
      const v = args.get(a);
      return `{{args.${a}}}: ${v && 'unknown' in v ? v.unknown : 'the template declares no such argument'}`;
    });
    throw new Unbound(f.path, `uses ${why.join('; ')}; the metric is dropped`);
  };
  try {
    const provider = argoProvider(m.get('provider').map(), bind);
    const out: Json = { name: labelName(name) };
    if (!provider) return undefined;
    out.provider = provider;
    for (const key of ['successCondition', 'failureCondition'] as const) {
      const text = bind(m.get(key));
      if (text === undefined) continue;
      const converted = argoCondition(text);
      if ('refused' in converted) throw new Unbound(m.get(key).path, `${converted.refused}; the metric is dropped`);
      out[key] = converted.condition;
    }
    const interval = durationOf(m.get('interval'));
    if (interval) out.interval = interval;
    const delay = durationOf(m.get('initialDelay'));
    if (delay) out.initialDelay = delay;
    const count = m.get('count');
    if (count.present) {
      const n = typeof count.value === 'string' ? Number(bind(count)) : count.int(1);
      if (n === undefined || !Number.isInteger(n) || n < 1)
        throw new Unbound(count.path, 'is not a whole number of at least 1; the metric is dropped');
      out.count = n;
    }
    for (const key of ['failureLimit', 'inconclusiveLimit', 'consecutiveErrorLimit'] as const) {
      const f = m.get(key);
      const n = f.int(-1);
      if (n === -1) f.drop('-1 (no limit) has no kanari equivalent; kanari uses its default');
      else if (n !== undefined) out[key] = n;
    }
    if (dryRun.some((d) => d === name || (d === '.*' && name))) out.dryRun = true;
    m.rest({
      consecutiveSuccessLimit: 'kanari passes a metric by its count, not by consecutive successes; dropped',
    });
    return out;
  } catch (err) {
    if (!(err instanceof Unbound)) throw err;
    m.doc.drop(err.path, err.message);
    return undefined;
  }
}

/** A metric that cannot be carried, thrown out of its conversion to be reported at `path`. */
class Unbound extends Error {
  constructor(
    readonly path: readonly (string | number)[],
    message: string,
  ) {
    super(message);
  }
}

function argoProvider(p: Field, bind: (f: Field) => string | undefined): Json | undefined {
  const [kind, ...more] = p.keys();
  if (kind === undefined) {
    p.drop('names no provider; the metric is dropped');
    return undefined;
  }
  for (const extra of more) p.get(extra).drop('a metric has one provider; only the first is read');
  const q = p.get(kind).map();
  const headers = (f: Field) =>
    Object.fromEntries(f.list().map((h) => [h.map().get('key').str() ?? '', bind(h.get('value')) ?? '']));
  const timeout = (f: Field) => {
    const s = f.int(1);
    return s === undefined ? {} : { timeout: `${s}s` };
  };
  if (kind === 'prometheus') {
    const out: Json = { address: bind(q.get('address')), query: bind(q.get('query')), ...timeout(q.get('timeout')) };
    if (q.has('headers')) out.headers = headers(q.get('headers'));
    q.rest({
      insecure: 'kanari verifies TLS certificates; dropped',
      authentication: 'kanari sends no SigV4 or OAuth2 authentication; use headers; dropped',
    });
    return { prometheus: out };
  }
  if (kind === 'web') {
    const out: Json = { url: bind(q.get('url')), jsonPath: q.get('jsonPath').str() ?? '{$}' };
    const method = q.get('method').str();
    if (method) out.method = method.toUpperCase();
    if (q.has('headers')) out.headers = headers(q.get('headers'));
    const body = bind(q.get('body'));
    if (body !== undefined) out.body = body;
    if (q.has('jsonBody')) out.body = JSON.stringify(q.get('jsonBody').value);
    Object.assign(out, timeout(q.get('timeoutSeconds')));
    q.rest({ insecure: 'kanari verifies TLS certificates; dropped' });
    return { web: out };
  }
  p.get(kind).drop(
    `${PROVIDER_REASONS[kind] ?? `kanari has no ${kind} provider`}; the metric is dropped (kanari reads prometheus, web and its own router)`,
  );
  return undefined;
}
