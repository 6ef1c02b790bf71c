/**
 * The `TrafficRouter` seam: how a rollout's desired traffic reaches the data plane. One
 * implementation per data plane; each says what it can do, and a step it cannot do is a
 * load-time error, never a silent no-op.
 */
import type { RouterCapabilities, TrafficCapability } from '../config/capabilities.js';
import type { TrafficState } from '../rollout/types.js';

export type { TrafficCapability };

export interface TrafficRouter extends RouterCapabilities {
  /** Makes the data plane do `desired`; idempotent. `endpoints` maps each instance id to its addresses. */
  apply(desired: TrafficState, endpoints: (id: string) => string[]): Promise<void>;
}
