/**
 * What every Kubernetes traffic router is built with, and how it reports the API server's
 * failures through the `TrafficRouter` seam's error types.
 */
import { KubeError, type KubeClient, type KubeObject, type ObjectRef, type OwnerReference } from '../../kube/api.js';
import {
  TrafficConflict,
  TrafficError,
  TrafficRefused,
  TrafficUnreachable,
  type TrafficRouter,
} from '../../rollout/seams/traffic.js';
import { updateObject } from '../../kube/update.js';

/** A traffic router on Kubernetes: the seam, and giving the user's objects back when the Rollout is deleted. */
export interface KubernetesTrafficRouter extends TrafficRouter {
  /**
   * Takes everything of kanari's out of the user's routing objects, so they send to the
   * user's Service as written; idempotent, and an object that is gone has nothing to give back.
   */
  giveBack(): Promise<void>;
}

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

/**
 * Read-modify-write of a user's object as the Rollout is deleted: one that is gone (a
 * namespace being deleted takes the user's objects too) has nothing of kanari's left in it.
 */
export async function editIfThere(
  client: KubeClient,
  ref: ObjectRef,
  edit: (current: KubeObject) => KubeObject | undefined,
): Promise<void> {
  await typed(async () => {
    try {
      await updateObject(client, ref, edit);
    } catch (err) {
      if (!(err instanceof KubeError && err.status === 404)) throw err;
    }
  });
}

/** 409 is a conflict; no answer, a 5xx or a 429 (the server shedding load) is unreachable; any other refusal (or a bad object) is refused. */
export async function typed<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof TrafficError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof KubeError && err.status === 409) throw new TrafficConflict(message, { cause: err });
    if (err instanceof KubeError && (err.status === 0 || err.status === 429 || err.status >= 500))
      throw new TrafficUnreachable(message, { cause: err });
    throw new TrafficRefused(message, { cause: err });
  }
}
