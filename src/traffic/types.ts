/**
 * The `TrafficRouter` seam: how a rollout's desired traffic reaches the data plane. One
 * implementation per data plane; each says what it can do, and a step it cannot do is a
 * load-time error, never a silent no-op.
 */
import type { TrafficState } from '../rollout/types.js';

export type TrafficCapability = 'weights' | 'match' | 'mirror' | 'sticky' | 'baseline';

export interface TrafficRouter {
  readonly name: string;
  readonly supports: ReadonlySet<TrafficCapability>;
  /** Makes the data plane do `desired`; idempotent. `endpoints` maps each instance id to its addresses. */
  apply(desired: TrafficState, endpoints: (id: string) => string[]): Promise<void>;
}
