/**
 * What a rollout asks of its data plane, found in the file with where it is asked, so a
 * router that cannot do a step is refused at load time by name and line, never silently
 * skipped when the step comes.
 */
import { podsFor } from './replica-split.js';
import type { RolloutSpec } from './schemas/rollout.js';
import type { KubernetesRouterName } from './schemas/kubernetes.js';

/** What a data plane can be asked to do; each traffic router declares the ones it can. */
export type TrafficCapability = 'weights' | 'match' | 'mirror' | 'sticky' | 'baseline';

/** What a load-time check needs of a router: its name and what it declares it can do. */
export interface RouterCapabilities {
  readonly name: string;
  readonly supports: ReadonlySet<TrafficCapability>;
  /** Why this router cannot route by `match` when it can route by some matches (undefined: it can). */
  readonly matchProblem?: (match: RouteMatch) => string | undefined;
  /** Why this router cannot send a canary `percent` when it can send some weights (undefined: it can). */
  readonly weightProblem?: (percent: number) => string | undefined;
}

/** A header or cookie match, as a step or a preview route writes it. */
export interface RouteMatch {
  header?: string;
  cookie?: string;
  value?: string;
  prefix?: string;
  regex?: string;
}

/** kanari's own router does every step (`EmbeddedTraffic` declares itself with this). */
export const EMBEDDED: RouterCapabilities = {
  name: 'embedded',
  supports: new Set(['weights', 'match', 'mirror', 'sticky', 'baseline']),
};

/**
 * Why `router` cannot hold a canary at `percent` by a person's hand (set-weight), or
 * undefined when it can; the replicas router only as a whole number of its `pods`.
 */
export function heldWeightProblem(router: RouterCapabilities, percent: number, pods?: number): string | undefined {
  if (!router.supports.has('weights')) return `the ${router.name} router does not split traffic by weight`;
  const split = router.name === REPLICAS.name && pods !== undefined ? podsFor(percent, pods) : undefined;
  return split && 'problem' in split ? split.problem : router.weightProblem?.(percent);
}

/**
 * What a router assigns to a version: each request on its own, a connection (every request
 * on it goes where its first went), or a key (a user, by cookie or header) that then stays.
 * The judge must use a test valid for that unit (judge-fit.ts).
 */
export type AssignmentUnit = 'request' | 'connection' | 'key';

/** A router known at load time: what it can do and what it assigns. */
export interface KubernetesRouterCapabilities extends RouterCapabilities {
  readonly assignment: AssignmentUnit;
}

/** ingress-nginx's canary Ingress: a weight, one header and one cookie; no mirror percent, one canary per path. */
export const NGINX: RouterCapabilities = {
  name: 'nginx',
  supports: new Set(['weights', 'match']),
  matchProblem: (m) =>
    m.cookie !== undefined && m.value !== 'always'
      ? 'ingress-nginx sends a cookie to the canary only when its value is "always" (canary-by-cookie)'
      : undefined,
  // A controller that ignores canary-weight-total reads 250 of 10000 as 250 of 100: everyone on the canary.
  weightProblem: (percent) =>
    Number.isInteger(percent)
      ? undefined
      : 'ingress-nginx before March 2023 ignores canary-weight-total on rule backends (kubernetes/ingress-nginx#9745) and would read a fractional weight as more than 100%, so the nginx router sends whole percents only',
};

/** Replica ratios behind one Service: a weight is a share of pods, and nothing else can be asked of kube-proxy. */
export const REPLICAS: RouterCapabilities = { name: 'replicas', supports: new Set(['weights']) };

/**
 * The Gateway API and Istio routers split by weight per request, route headers and cookies,
 * mirror and run a baseline; neither keeps a user on one version (weights pick per request,
 * and a mesh's session affinity holds within one backend, not across the split).
 */
export const GATEWAY_API: RouterCapabilities = {
  name: 'gatewayapi',
  supports: new Set(['weights', 'match', 'mirror', 'baseline']),
};
export const ISTIO: RouterCapabilities = {
  name: 'istio',
  supports: new Set(['weights', 'match', 'mirror', 'baseline']),
};

/**
 * The Kubernetes routers by the name `trafficRouting` gives them, with what each assigns,
 * so a file is checked without building one. Each router (src/traffic/kubernetes/<name>/)
 * declares the same `assignment`. None keeps users sticky yet.
 */
export const KUBERNETES: Record<KubernetesRouterName, KubernetesRouterCapabilities> = {
  gatewayapi: { ...GATEWAY_API, assignment: 'request' },
  istio: { ...ISTIO, assignment: 'request' },
  nginx: { ...NGINX, assignment: 'request' },
  // kube-proxy picks a pod per connection, so a keep-alive or HTTP/2 client stays on one version.
  replicas: { ...REPLICAS, assignment: 'connection' },
};

interface Needed {
  capability: TrafficCapability;
  /** The match the step routes by, for a router that can do only some. */
  match?: RouteMatch;
  /** The canary weight the step sends, for a router that can send only some. */
  weight?: number;
  /** Where in `spec` the file asks for it. */
  path: (string | number)[];
  what: string;
}

/** The parts of a spec (standalone or Kubernetes) that ask things of a router. */
type Plan = Pick<RolloutSpec, 'sticky' | 'strategy'>;

function neededCapabilities(spec: Plan): Needed[] {
  const out: Needed[] = [];
  const need = (
    capability: TrafficCapability,
    path: (string | number)[],
    what: string,
    detail: { match?: RouteMatch; weight?: number } = {},
  ) => out.push({ capability, path, what, ...detail });
  if (spec.sticky) need('sticky', ['sticky'], 'sticky users');
  const { canary, blueGreen, rolling } = spec.strategy;
  canary?.steps.forEach((step, n) => {
    const at = ['strategy', 'canary', 'steps', n];
    if (step.setWeight !== undefined)
      need('weights', [...at, 'setWeight'], 'weighted traffic', { weight: step.setWeight });
    if (step.setHeaderRoute)
      need('match', [...at, 'setHeaderRoute'], 'header and cookie routes', {
        ...(step.setHeaderRoute.match ? { match: step.setHeaderRoute.match } : {}),
      });
    if (step.setMirror) need('mirror', [...at, 'setMirror'], 'mirroring');
    if (step.baseline) need('baseline', [...at, 'baseline'], 'a baseline version');
  });
  if (blueGreen?.previewRoute)
    need('match', ['strategy', 'blueGreen', 'previewRoute'], 'a preview route (a header or cookie match)', {
      match: blueGreen.previewRoute,
    });
  if (blueGreen) need('weights', ['strategy', 'blueGreen'], 'switching traffic between versions');
  if (rolling) need('weights', ['strategy', 'rolling'], 'traffic in proportion to instances');
  return out;
}

/**
 * What the router assigns to a version: each request on its own, or a key (a user) that
 * then stays on its version. kanari's router keeps users by a cookie unless told otherwise.
 */
export function assignmentUnit(spec: Pick<RolloutSpec, 'sticky'>): 'request' | 'key' {
  return spec.sticky?.perRequest ? 'request' : 'key';
}

export function describeSticky(spec: Pick<RolloutSpec, 'sticky'>, service: string): string {
  const s = spec.sticky;
  if (s?.header) return `by the ${s.header} header`;
  if (s?.clientAddress) return 'by client address';
  return `by the ${s?.cookie ?? `kanari-${service}`} cookie`;
}

/** Each step the router cannot do, with its path and a message that names the router. */
export function unsupportedSteps(
  spec: Plan,
  router: RouterCapabilities,
): { path: (string | number)[]; message: string }[] {
  return neededCapabilities(spec).flatMap((n) => {
    const path = ['spec', ...n.path];
    if (!router.supports.has(n.capability)) {
      const supported = [...router.supports].join(', ') || 'nothing';
      return [{ path, message: `the ${router.name} router cannot do ${n.what} (it supports: ${supported})` }];
    }
    const matchProblem = n.match && router.matchProblem?.(n.match);
    if (matchProblem)
      return [{ path, message: `the ${router.name} router cannot route by this match: ${matchProblem}` }];
    const weightProblem = n.weight !== undefined && router.weightProblem?.(n.weight);
    if (weightProblem)
      return [{ path, message: `the ${router.name} router cannot send this weight: ${weightProblem}` }];
    return [];
  });
}
