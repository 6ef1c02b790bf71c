/**
 * Counts of stickiness keys (users) as the router reports them and the sequential judge
 * reads them. With sticky routing, what is randomised to a version is the key, not the
 * request, so a test that stays valid on clustered traffic lets each key add to the
 * evidence at most once: when it is first seen, at its first error, and at its first
 * request slower than a threshold. A key counts on the version that served that request.
 *
 * Slow keys for any threshold, at the latency sketch's 1% accuracy, without knowing the
 * thresholds in advance: each key keeps its level (the sketch bucket of its slowest
 * request so far). A request that raises a key's level from a to b makes the key slower
 * than every threshold whose bucket j has a ≤ j < b for the first time; that is recorded
 * as a difference array, Δ[a] += 1 and Δ[b] −= 1, so the keys first slower than t on a
 * version are the sum of Δ over the buckets up to t's. Sums of such arrays subtract and
 * add like counters, so snapshots of them take deltas like every other counter.
 */
import { bucketIndex, ZERO_INDEX } from './sketch.js';

export interface KeyStats {
  /** Keys whose first tracked request this version served. */
  seen: number;
  /** Keys whose first error (5xx or no response) this version served. */
  failed: number;
  /** The difference array of first-slow keys: sparse [sketch bucket index, Δ] pairs, by index. */
  slow: [number, number][];
}

/** The tracker behind a service's key counts: one per service, across workers. */
export interface KeyTracking {
  /** Goes up each time the tracker starts empty (a table that sends nobody to a canary or baseline); counts restart from zero with it. */
  epoch: number;
  /** Drawn when the tracker is made: a restarted router's tracker has forgotten every key, whatever its epoch. */
  id: number;
  /** Keys held now. */
  tracked: number;
  /** The share of the key space tracked: 1 until memory ran short; keys outside it are never counted, on any version. */
  sampling: number;
  /** Memory the tracker holds, in bytes. */
  bytes: number;
}

/** The level a request of `seconds` gives a key: its sketch bucket (ZERO_INDEX below 1 µs). */
export function keyLevel(seconds: number): number {
  return bucketIndex(seconds);
}

/** The level of a key not yet seen: every request raises it. */
export const NO_LEVEL = ZERO_INDEX;

/** For each threshold (seconds): how many keys first became slower than it, from a difference array. */
export function keysAbove(slow: readonly (readonly [number, number])[], thresholds: readonly number[]): number[] {
  return thresholds.map((t) => {
    const j = bucketIndex(t);
    let n = 0;
    for (const [i, d] of slow) if (i <= j) n += d;
    return n;
  });
}

export function emptyKeyStats(): KeyStats {
  return { seen: 0, failed: 0, slow: [] };
}

/** a + sign·b, field by field (sign −1 takes a delta between two cumulative snapshots). */
export function combineKeyStats(a: KeyStats, b: KeyStats, sign: 1 | -1 = 1): KeyStats {
  const slow = new Map<number, number>(a.slow);
  for (const [i, d] of b.slow) slow.set(i, (slow.get(i) ?? 0) + sign * d);
  return {
    seen: a.seen + sign * b.seen,
    failed: a.failed + sign * b.failed,
    slow: [...slow].filter(([, d]) => d !== 0).sort((x, y) => x[0] - y[0]),
  };
}
