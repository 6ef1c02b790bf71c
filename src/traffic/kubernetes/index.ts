/**
 * The Kubernetes traffic routers by the name a Rollout's `trafficRouting` gives, built with
 * what each needs: the client, the Rollout (which owns what a router creates), the
 * Service's port, and the pods of each version at full strength (replicas).
 */
import { countPresetOf, routerNameOf, type KubernetesRolloutSpec } from '../../config/schemas/kubernetes.js';
import type { KubeClient, OwnerReference } from '../../kube/api.js';
import type { KubernetesTrafficRouter } from './kube-router.js';
import { VERSION_HEADER } from './gatewayapi/counted.js';
import { GatewayApiTraffic } from './gatewayapi/router.js';
import { IstioTraffic } from './istio/router.js';
import { NginxTraffic } from './nginx/router.js';
import { ReplicasTraffic } from './replicas/router.js';

export interface KubernetesRouterContext {
  client: KubeClient;
  owner: OwnerReference;
  /** The Service's port traffic is sent to (spec.service.port, else the Service's first). */
  port: number;
  replicas: number;
  /** How long the mesh routers keep everyone on stable's own Service before their rules go (tests shorten it). */
  holdMs?: number;
}

/**
 * What a router is built from: the Rollout's name, its Service, its `trafficRouting` and who
 * counts (nothing of its plan); `metrics` is read again at each write (the operator's runner
 * gives the release's).
 */
export interface RoutedRollout {
  metadata: { name: string; namespace?: string | undefined };
  spec: Pick<KubernetesRolloutSpec, 'service' | 'trafficRouting'> & Partial<Pick<KubernetesRolloutSpec, 'metrics'>>;
}

/** How the operator gets a Rollout's router: the Rollout, and what it owns, its Service's port and each version's size. */
export type KubernetesRouterFactory = (
  rollout: RoutedRollout,
  at: { owner: OwnerReference; port: number; replicas: number },
) => KubernetesTrafficRouter;

export function kubernetesTrafficRouter(rollout: RoutedRollout, c: KubernetesRouterContext): KubernetesTrafficRouter {
  const routing = rollout.spec.trafficRouting;
  const common = {
    client: c.client,
    rollout: { name: rollout.metadata.name, namespace: rollout.metadata.namespace ?? 'default' },
    service: { name: rollout.spec.service.name, port: c.port },
    owner: c.owner,
  };
  const hold = c.holdMs === undefined ? {} : { holdMs: c.holdMs };
  switch (routerNameOf(routing)) {
    case 'gatewayapi':
      return new GatewayApiTraffic({
        ...common,
        routing: routing.gatewayAPI!,
        ...hold,
        // Envoy Gateway counts each backendRef apart only when it has a filter, so one is written
        // only for it; read at each write, as `metrics` may be another release's by then.
        versionHeader: () => (countPresetOf(rollout.spec) === 'envoy-gateway' ? VERSION_HEADER : undefined),
      });
    case 'istio':
      return new IstioTraffic({ ...common, routing: routing.istio!, ...hold });
    case 'nginx':
      return new NginxTraffic({ ...common, routing: routing.nginx! });
    case 'replicas':
      return new ReplicasTraffic({ ...common, routing: routing.replicas!, replicas: c.replicas });
  }
}
