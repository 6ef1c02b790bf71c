/**
 * What every Kubernetes traffic router is built with, and how it reports the API server's
 * failures through the `TrafficRouter` seam's error types.
 */
import { KubeError, type KubeClient, type OwnerReference } from '../../kube/api.js';
import { TrafficConflict, TrafficError, TrafficRefused, TrafficUnreachable } from '../../rollout/seams/traffic.js';

export interface KubernetesRouterOptions<Routing> {
  client: KubeClient;
  rollout: { name: string; namespace: string };
  /** The Service users reach; `port` defaults to its first. */
  service: { name: string; port?: number };
  /** The router's part of `spec.trafficRouting`. */
  routing: Routing;
  /** The Rollout, which owns what the router creates. */
  owner?: OwnerReference;
}

/** 409 is a conflict; no answer or a 5xx is unreachable; any other refusal (or a bad object) is refused. */
export async function typed<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof TrafficError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof KubeError && err.status === 409) throw new TrafficConflict(message, { cause: err });
    if (err instanceof KubeError && (err.status === 0 || err.status >= 500))
      throw new TrafficUnreachable(message, { cause: err });
    throw new TrafficRefused(message, { cause: err });
  }
}
