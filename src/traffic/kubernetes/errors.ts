/**
 * The API server's failures as the traffic seam's: a 409 that outlasted its retries is a
 * conflict, no answer (or a 5xx, a 429) is unreachable, any other refusal (404, 403, 422
 * from a CRD's validation) is refused with the server's own words.
 */
import { KubeConflict, KubeError } from '../../kube/api.js';
import { TrafficConflict, TrafficError, TrafficRefused, TrafficUnreachable } from '../../rollout/seams/traffic.js';

export async function kubeCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof TrafficError) throw err;
    const message = (err as Error).message;
    if (err instanceof KubeConflict) throw new TrafficConflict(message, { cause: err });
    if (err instanceof KubeError && err.status !== 0 && err.status !== 429 && err.status < 500)
      throw new TrafficRefused(message, { cause: err });
    throw new TrafficUnreachable(message, { cause: err });
  }
}
