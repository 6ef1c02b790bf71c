import type { SplitShares } from '../analysis/judges/sequential/window.js';
import type { TrafficState } from './types.js';

/**
 * The canary's configured share of canary + control, which the judge holds its counts to:
 * control is the baseline when one has weight, otherwise stable. Keys are assigned by the
 * weights alone (header and cookie routes are not counted in keys); requests are held to
 * the weights only when no route also sends requests to the canary.
 */
export function splitShares(t: TrafficState): SplitShares | undefined {
  if (t.canary === undefined) return undefined;
  const against = hasBaseline(t) ? 'baseline' : 'stable';
  const control = against === 'baseline' ? t.weights.baseline : 100 - t.weights.canary - t.weights.baseline;
  const total = t.weights.canary + control;
  if (!(total > 0)) return undefined;
  const keys = t.weights.canary / total;
  return t.routes.length > 0 ? { keys, control: against } : { requests: keys, keys, control: against };
}

/** Whether a baseline with weight serves, so that it, not stable, is what the canary is compared with. */
export function hasBaseline(t: TrafficState): boolean {
  return t.baseline !== undefined && t.weights.baseline > 0;
}
