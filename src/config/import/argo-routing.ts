/**
 * Argo Rollouts' `trafficRouting` as kanari's: Istio, NGINX and the Gateway API plugin
 * carry over; the meshes and ingresses kanari has no router for are reported, and the
 * rollout falls back to replica ratios, as Argo itself does without trafficRouting.
 */
import type { Field } from './source.js';

type Json = Record<string, unknown>;

const NO_ROUTER =
  "kanari has no router for it (it routes with the Gateway API, Istio, NGINX canary annotations or replica ratios); the rollout uses replica ratios instead — choose one of kanari's routers";

const UNSUPPORTED: Record<string, string> = {
  smi: `SMI TrafficSplit: ${NO_ROUTER}`,
  alb: `AWS ALB: ${NO_ROUTER}`,
  ambassador: `Ambassador: ${NO_ROUTER}`,
  traefik: `Traefik: ${NO_ROUTER}`,
  apisix: `APISIX: ${NO_ROUTER}`,
  appMesh: `App Mesh: ${NO_ROUTER}`,
};

export interface ArgoRouting {
  routing: Json;
  /** Whether the router can route by header and mirror (replica ratios cannot). */
  matches: boolean;
}

export function argoRouting(tr: Field, stableService: string): ArgoRouting {
  tr.map();
  const replicas: ArgoRouting = { routing: { replicas: {} }, matches: false };
  let chosen: ArgoRouting | undefined;
  const routers: [string, (f: Field) => ArgoRouting | undefined][] = [
    ['istio', (f) => istio(f, stableService)],
    ['nginx', nginx],
    ['plugins', plugins],
  ];
  for (const [key, convert] of routers) {
    if (!tr.has(key)) continue;
    if (chosen) tr.get(key).drop('kanari uses one router per rollout; dropped');
    else chosen = convert(tr.get(key).map());
  }
  tr.rest({
    ...UNSUPPORTED,
    managedRoutes: 'kanari names the routes it adds itself; dropped',
    maxTrafficWeight: 'kanari weights are percentages; dropped',
  });
  return chosen ?? replicas;
}

function istio(f: Field, stableService: string): ArgoRouting {
  const services = f.has('virtualServices') ? f.get('virtualServices').list() : [f.get('virtualService')];
  const [vs, ...others] = services.map((v) => v.map());
  for (const o of others) o.drop('kanari splits one VirtualService per rollout; dropped');
  const virtualService: Json = { name: vs?.get('name').str() ?? stableService };
  const routes = vs?.get('routes').list() ?? [];
  if (routes.length > 0) virtualService.routes = routes.map((r) => r.str() ?? '');
  vs?.get('tlsRoutes').drop('kanari splits HTTP routes only; dropped');
  vs?.get('tcpRoutes').drop('kanari splits HTTP routes only; dropped');
  vs?.rest();
  const dr = f.get('destinationRule').map();
  let destinationRule = dr.get('name').str();
  dr.rest({
    canarySubsetName: 'kanari names the subsets itself (one per version); dropped',
    stableSubsetName: 'kanari names the subsets itself (one per version); dropped',
  });
  if (!destinationRule) {
    destinationRule = stableService;
    f.drop(
      `splits by host (canaryService/stableService), which kanari does not: it splits by DestinationRule subsets; assumed a DestinationRule named ${stableService} — create it or change the name`,
    );
  }
  f.rest();
  return { routing: { istio: { virtualService, destinationRule: { name: destinationRule } } }, matches: true };
}

function nginx(f: Field): ArgoRouting {
  const ingresses = f.has('stableIngresses') ? f.get('stableIngresses').list() : [f.get('stableIngress')];
  const [first, ...others] = ingresses;
  for (const o of others) o.drop('kanari adds a canary to one Ingress per rollout; dropped');
  const out: Json = { ingress: first?.str() ?? '' };
  const prefix = f.get('annotationPrefix').str();
  if (prefix) out.annotationPrefix = prefix;
  f.rest({
    additionalIngressAnnotations:
      'kanari writes the canary annotations itself; route by header or cookie with a setHeaderRoute step instead; dropped',
    canaryIngressAnnotations: 'kanari writes the canary Ingress itself; dropped',
  });
  return { routing: { nginx: out }, matches: true };
}

/** Only the Gateway API plugin has a kanari router. */
function plugins(f: Field): ArgoRouting | undefined {
  let found: ArgoRouting | undefined;
  for (const key of f.keys()) {
    const plugin = f.get(key).map();
    if (key !== 'argoproj-labs/gatewayAPI' || found) {
      plugin.drop(found ? 'kanari uses one router per rollout; dropped' : `the ${key} plugin: ${NO_ROUTER}`);
      continue;
    }
    const routes = plugin.has('httpRoutes') ? plugin.get('httpRoutes').list() : [];
    const [first, ...others] = routes.map((r) => r.map());
    for (const o of others) o.drop('kanari edits one HTTPRoute per rollout; dropped');
    const httpRoute = first ? first.get('name').str() : plugin.get('httpRoute').str();
    first?.rest({ useHeaderRoutes: 'kanari adds header routes to the same HTTPRoute; dropped' });
    const gatewayAPI: Json = { httpRoute: httpRoute ?? '' };
    const namespace = plugin.get('namespace').str();
    if (namespace) gatewayAPI.namespace = namespace;
    plugin.rest({
      grpcRoute: 'kanari splits HTTPRoutes only; dropped',
      grpcRoutes: 'kanari splits HTTPRoutes only; dropped',
      tcpRoute: 'kanari splits HTTPRoutes only; dropped',
      tcpRoutes: 'kanari splits HTTPRoutes only; dropped',
      tlsRoute: 'kanari splits HTTPRoutes only; dropped',
      tlsRoutes: 'kanari splits HTTPRoutes only; dropped',
      configMap: 'kanari keeps its state in the Rollout status; dropped',
    });
    found = { routing: { gatewayAPI }, matches: true };
  }
  return found;
}
