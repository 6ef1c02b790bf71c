/**
 * ingress-nginx's canary Ingress as pure functions: the traffic state becomes annotations
 * on a copy of the user's Ingress whose paths to the user's Service go to the canary's
 * Service instead, and a canary Ingress read back (which anyone may have edited) becomes a
 * traffic state again, or a refusal that says what is wrong with it.
 */
import { NGINX } from '../../../config/capabilities.js';
import type { KubeObject, OwnerReference } from '../../../kube/api.js';
import { MANAGED_BY, MANAGED_BY_LABEL, record, ROLLOUT_LABEL } from '../../../kube/versions.js';
import type { HeaderRoute, TrafficState } from '../../../rollout/types.js';
import { TrafficRefused } from '../../../rollout/seams/traffic.js';

/** The annotations kanari writes, without their prefix. */
const CANARY = 'canary';
const WEIGHT = 'canary-weight';
const WEIGHT_TOTAL = 'canary-weight-total';
const BY_HEADER = 'canary-by-header';
const HEADER_VALUE = 'canary-by-header-value';
const HEADER_PATTERN = 'canary-by-header-pattern';
const BY_COOKIE = 'canary-by-cookie';
/** A fractional weight is written in hundredths of a percent, kanari's own resolution. */
const FINE_TOTAL = 10_000;
/** The value of a canary cookie that ingress-nginx sends to the canary (any other falls through to the weight). */
const COOKIE_ALWAYS = 'always';

export function canaryIngressName(ingress: string): string {
  return `${ingress}-kanari-canary`;
}

/** Why ingress-nginx cannot do `state` (one canary Ingress, one header, one cookie), or undefined when it can. */
export function unsupportedByNginx(state: TrafficState): string | undefined {
  if (state.baseline !== undefined || state.weights.baseline > 0)
    return 'ingress-nginx takes one canary Ingress per host and path: there is no room for a baseline';
  if (state.mirror > 0) return 'ingress-nginx mirrors every request (mirror-target), not a percentage';
  const headers = state.routes.filter((r) => r.header !== undefined);
  const cookies = state.routes.filter((r) => r.cookie !== undefined);
  if (headers.length > 1) return 'ingress-nginx routes the canary by one header only (canary-by-header)';
  if (cookies.length > 1) return 'ingress-nginx routes the canary by one cookie only (canary-by-cookie)';
  return state.routes.map((r) => NGINX.matchProblem!(r)).find((p) => p !== undefined);
}

/** The canary annotations for `state` (under `prefix`). */
export function canaryAnnotations(state: TrafficState, prefix: string): Record<string, string> {
  const at = (name: string) => `${prefix}/${name}`;
  const w = state.weights.canary;
  const out: Record<string, string> = { [at(CANARY)]: 'true' };
  if (Number.isInteger(w)) out[at(WEIGHT)] = String(w);
  else {
    out[at(WEIGHT)] = String(Math.round(w * (FINE_TOTAL / 100)));
    out[at(WEIGHT_TOTAL)] = String(FINE_TOTAL);
  }
  for (const r of state.routes) {
    if (r.cookie !== undefined) out[at(BY_COOKIE)] = r.cookie;
    if (r.header === undefined) continue;
    out[at(BY_HEADER)] = r.header;
    if (r.value !== undefined) out[at(HEADER_VALUE)] = r.value;
    else out[at(HEADER_PATTERN)] = r.regex ?? `^${escapeRegex(r.prefix ?? '')}`;
  }
  return out;
}

export interface CanaryIngressInput {
  /** The user's Ingress, as read. */
  ingress: KubeObject;
  /** The user's Service its paths send to. */
  service: string;
  /** The canary's Service (`<rollout>-<canary id>`). */
  canaryService: string;
  rollout: string;
  prefix: string;
  state: TrafficState;
  owner?: OwnerReference;
}

/** The canary Ingress: the user's hosts, TLS and class, only the paths to `service`, sent to `canaryService`. */
export function canaryIngressFor(i: CanaryIngressInput): KubeObject {
  const spec = record(i.ingress.spec);
  const rules = canaryRules(i.ingress, i.service, i.canaryService);
  const userAnnotations = i.ingress.metadata.annotations ?? {};
  // Before IngressClass (Kubernetes < 1.18 style), the class is an annotation; the canary needs the same one.
  const legacyClass = userAnnotations['kubernetes.io/ingress.class'];
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name: canaryIngressName(i.ingress.metadata.name),
      ...(i.ingress.metadata.namespace ? { namespace: i.ingress.metadata.namespace } : {}),
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [ROLLOUT_LABEL]: i.rollout },
      annotations: {
        ...(typeof legacyClass === 'string' ? { 'kubernetes.io/ingress.class': legacyClass } : {}),
        ...canaryAnnotations(i.state, i.prefix),
      },
      ...(i.owner ? { ownerReferences: [{ ...i.owner, controller: true, blockOwnerDeletion: true }] } : {}),
    },
    spec: {
      ...(typeof spec.ingressClassName === 'string' ? { ingressClassName: spec.ingressClassName } : {}),
      ...(Array.isArray(spec.tls) ? { tls: structuredClone(spec.tls) } : {}),
      rules,
    },
  };
}

function canaryRules(ingress: KubeObject, service: string, canaryService: string): unknown[] {
  const rules = record(ingress.spec).rules;
  const out: unknown[] = [];
  for (const raw of Array.isArray(rules) ? rules : []) {
    const rule = record(raw);
    const paths = record(rule.http).paths;
    const ours = (Array.isArray(paths) ? paths : [])
      .map(record)
      .filter((p) => record(record(p.backend).service).name === service)
      .map((p) => {
        const backend = record(record(p.backend).service);
        return { ...structuredClone(p), backend: { service: { ...structuredClone(backend), name: canaryService } } };
      });
    if (ours.length === 0) continue;
    out.push({ ...(typeof rule.host === 'string' ? { host: rule.host } : {}), http: { paths: ours } });
  }
  if (out.length === 0)
    throw new TrafficRefused(
      `Ingress ${ingress.metadata.name} has no rule whose path sends to Service ${service}: there is nothing to make a canary of`,
    );
  return out;
}

/** What a canary Ingress read back asks of ingress-nginx, as kanari's traffic state (without stable, which the Service says). */
export function canaryOfIngress(
  ingress: KubeObject,
  prefix: string,
  rollout: string,
): Pick<TrafficState, 'canary' | 'weights' | 'routes'> {
  const where = `Ingress ${ingress.metadata.name}`;
  const a = ingress.metadata.annotations ?? {};
  const get = (name: string): string | undefined => {
    const v = (a as Record<string, unknown>)[`${prefix}/${name}`];
    if (v !== undefined && typeof v !== 'string')
      throw new TrafficRefused(`${where}: ${prefix}/${name} is not a string`);
    return v;
  };
  if (get(CANARY) !== 'true')
    throw new TrafficRefused(`${where} is not a canary Ingress (${prefix}/${CANARY} is not "true")`);
  const weight = integer(get(WEIGHT) ?? '0', `${where}: ${prefix}/${WEIGHT}`);
  const total = integer(get(WEIGHT_TOTAL) ?? '100', `${where}: ${prefix}/${WEIGHT_TOTAL}`);
  if (total === 0 || weight > total)
    throw new TrafficRefused(`${where}: canary weight ${weight} of ${total} is not a share`);
  const routes: HeaderRoute[] = [];
  const header = get(BY_HEADER);
  if (header !== undefined) {
    const value = get(HEADER_VALUE);
    const pattern = get(HEADER_PATTERN);
    if (value !== undefined) routes.push({ header, value });
    else if (pattern !== undefined) {
      const prefixed = literalPrefixOf(pattern);
      routes.push(prefixed === undefined ? { header, regex: pattern } : { header, prefix: prefixed });
    } else routes.push({ header, value: COOKIE_ALWAYS });
  }
  const cookie = get(BY_COOKIE);
  if (cookie !== undefined) routes.push({ cookie, value: COOKIE_ALWAYS });
  return {
    canary: canaryIdOf(ingress, rollout),
    weights: { canary: Math.round((weight / total) * 10_000) / 100, baseline: 0 },
    routes,
  };
}

/** The one canary Service every path sends to, as an instance id (`<rollout>-<id>`). */
function canaryIdOf(ingress: KubeObject, rollout: string): string {
  const names = new Set<unknown>();
  for (const rule of asArray(record(ingress.spec).rules))
    for (const path of asArray(record(record(rule).http).paths))
      names.add(record(record(record(path).backend).service).name);
  const [name] = names;
  if (names.size !== 1 || typeof name !== 'string' || !name.startsWith(`${rollout}-`))
    throw new TrafficRefused(
      `Ingress ${ingress.metadata.name} must send every path to one Service ${rollout}-<version> (it sends to ${[...names].map((n) => JSON.stringify(n)).join(', ') || 'none'})`,
    );
  return name.slice(rollout.length + 1);
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function integer(text: string, what: string): number {
  if (!/^\d{1,9}$/.test(text)) throw new TrafficRefused(`${what} must be a whole number (got ${JSON.stringify(text)})`);
  return Number(text);
}

const SPECIAL = /[.*+?^${}()|[\]\\/-]/g;

function escapeRegex(text: string): string {
  return text.replace(SPECIAL, '\\$&');
}

/** `^` followed by an escaped literal is how a prefix route is written; anything else is a regex route. */
function literalPrefixOf(pattern: string): string | undefined {
  const m = /^\^((?:\\[.*+?^${}()|[\]\\/-]|[^.*+?^${}()|[\]\\/-])*)$/.exec(pattern);
  return m ? m[1]!.replace(/\\(.)/g, '$1') : undefined;
}
