/**
 * What a rollout asks of its data plane, found in the file with where it is asked, so a
 * router that cannot do a step is refused at load time by name and line, never silently
 * skipped when the step comes.
 */
import type { RolloutSpec } from './schemas/rollout.js';
import type { KubernetesRouterName } from './schemas/kubernetes.js';

/** What a data plane can be asked to do; each traffic router declares the ones it can. */
export type TrafficCapability = 'weights' | 'match' | 'mirror' | 'sticky' | 'baseline';

/** What a load-time check needs of a router: its name and what it declares it can do. */
export interface RouterCapabilities {
  readonly name: string;
  readonly supports: ReadonlySet<TrafficCapability>;
}

/** kanari's own router does every step (`EmbeddedTraffic` declares itself with this). */
export const EMBEDDED: RouterCapabilities = {
  name: 'embedded',
  supports: new Set(['weights', 'match', 'mirror', 'sticky', 'baseline']),
};

/**
 * What a router assigns to a version: each request on its own, a connection (every request
 * on it goes where its first went), or a key (a user, by cookie or header) that then stays.
 * The judge must use a test valid for that unit (checks.ts).
 */
export type AssignmentUnit = 'request' | 'connection' | 'key';

/** A router known at load time: what it can do and what it assigns. */
export interface KubernetesRouterCapabilities extends RouterCapabilities {
  readonly assignment: AssignmentUnit;
}

/**
 * The Kubernetes routers (src/traffic/kubernetes/<name>/), as data, so a file is checked
 * without building one. Each router declares the same `supports` and `assignment`; a test
 * there holds them equal. None keeps users sticky yet: affinity needs a cookie or header
 * route that each data plane writes differently.
 */
export const KUBERNETES: Record<KubernetesRouterName, KubernetesRouterCapabilities> = {
  // HTTPRoute backendRefs weights, header/cookie matches, RequestMirror; a baseline is one more backendRef.
  gatewayapi: {
    name: 'gatewayapi',
    supports: new Set(['weights', 'match', 'mirror', 'baseline']),
    assignment: 'request',
  },
  // VirtualService route weights to DestinationRule subsets, match routes, mirrorPercentage.
  istio: { name: 'istio', supports: new Set(['weights', 'match', 'mirror', 'baseline']), assignment: 'request' },
  // One canary Ingress: canary-weight and canary-by-header/cookie, no mirror, room for one other version only.
  nginx: { name: 'nginx', supports: new Set(['weights', 'match']), assignment: 'request' },
  // Ready pods behind one Service: kube-proxy picks a pod per connection, so a keep-alive client stays on one.
  replicas: { name: 'replicas', supports: new Set(['weights']), assignment: 'connection' },
};

interface Needed {
  capability: TrafficCapability;
  /** Where in `spec` the file asks for it. */
  path: (string | number)[];
  what: string;
}

/** The parts of a spec (standalone or Kubernetes) that ask things of a router. */
type Plan = Pick<RolloutSpec, 'sticky' | 'strategy'>;

function neededCapabilities(spec: Plan): Needed[] {
  const out: Needed[] = [];
  const need = (capability: TrafficCapability, path: (string | number)[], what: string) =>
    out.push({ capability, path, what });
  if (spec.sticky) need('sticky', ['sticky'], 'sticky users');
  const { canary, blueGreen, rolling } = spec.strategy;
  canary?.steps.forEach((step, n) => {
    const at = ['strategy', 'canary', 'steps', n];
    if (step.setWeight !== undefined) need('weights', [...at, 'setWeight'], 'weighted traffic');
    if (step.setHeaderRoute) need('match', [...at, 'setHeaderRoute'], 'header and cookie routes');
    if (step.setMirror) need('mirror', [...at, 'setMirror'], 'mirroring');
    if (step.baseline) need('baseline', [...at, 'baseline'], 'a baseline version');
  });
  if (blueGreen?.previewRoute)
    need('match', ['strategy', 'blueGreen', 'previewRoute'], 'a preview route (a header or cookie match)');
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
  return neededCapabilities(spec)
    .filter((n) => !router.supports.has(n.capability))
    .map((n) => ({
      path: ['spec', ...n.path],
      message: `the ${router.name} router cannot do ${n.what} (it supports: ${[...router.supports].join(', ') || 'nothing'})`,
    }));
}
