/**
 * The `TrafficRouter` seam, owned by the engine that uses it: how a rollout's desired
 * traffic reaches a data plane, and what that data plane really does. One implementation
 * per data plane (src/traffic/<name>/); each declares what it can do, and a step it cannot
 * do is a load-time error, never a silent no-op.
 */
import type { RouterCapabilities, TrafficCapability } from '../../config/capabilities.js';
import type { TrafficState } from '../types.js';

export type { TrafficCapability };

/** `name` and `supports` are what a load-time check reads (config/capabilities.ts). */
export interface TrafficRouter extends RouterCapabilities {
  /**
   * Asks the data plane to do `desired`; idempotent. `endpoints` maps each instance id to
   * its addresses. Resolving means the request was accepted, not that it is in force:
   * `observe` says that.
   */
  apply(desired: TrafficState, endpoints: (id: string) => string[]): Promise<void>;
  /**
   * What the data plane applies now, read back from it; undefined while there is none to
   * ask yet. A step completes only once this matches what was asked (`sameTraffic`).
   */
  observe(): Promise<TrafficState | undefined>;
}

/** Why a data plane did not take a traffic state; each router maps its own failures onto these. */
export type TrafficErrorKind = 'conflict' | 'unreachable' | 'refused';

export class TrafficError extends Error {
  constructor(
    readonly kind: TrafficErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TrafficError';
  }
}

/** Another writer changed the data plane between our read and our write (a revision mismatch). */
export class TrafficConflict extends TrafficError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('conflict', message, options);
    this.name = 'TrafficConflict';
  }
}

/** The data plane could not be reached (not running, no answer, a broken connection). */
export class TrafficUnreachable extends TrafficError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unreachable', message, options);
    this.name = 'TrafficUnreachable';
  }
}

/** The data plane answered and said no (an invalid table, one it could not save). */
export class TrafficRefused extends TrafficError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('refused', message, options);
    this.name = 'TrafficRefused';
  }
}

/** Whether an observed traffic state is the desired one (what a user would be routed by). */
export function sameTraffic(observed: TrafficState | undefined, desired: TrafficState): boolean {
  return observed !== undefined && JSON.stringify(canonical(observed)) === JSON.stringify(canonical(desired));
}

function canonical(t: TrafficState) {
  const sizes = t.sizes && Object.keys(t.sizes).length > 0 ? t.sizes : undefined;
  return {
    stable: t.stable,
    canary: t.canary ?? null,
    baseline: t.baseline ?? null,
    weights: { canary: t.weights.canary, baseline: t.weights.baseline },
    routes: t.routes.map((r) => [
      r.header ?? null,
      r.cookie ?? null,
      r.value ?? null,
      r.prefix ?? null,
      r.regex ?? null,
    ]),
    mirror: t.mirror,
    sizes: sizes ? Object.entries(sizes).sort(([a], [b]) => a.localeCompare(b)) : null,
  };
}
