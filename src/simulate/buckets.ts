/**
 * Sticky assignment as kanari's router does it (src/router/split.ts, which the simulator may
 * not import): 10,000 buckets, the canary's growing from 0 up and the baseline's from the
 * top down, so a user changes version only when a weight moves past its bucket.
 */
import type { TrafficState } from '../rollout/types.js';

export const BUCKETS = 10_000;

export type Arm = 'canary' | 'stable' | 'baseline';
export const ARMS: readonly Arm[] = ['canary', 'stable', 'baseline'];

/** The canary's and the baseline's buckets under a routing table (none without the version). */
export interface BucketSplit {
  canary: number;
  baseline: number;
}

export function bucketSplit(t: TrafficState): BucketSplit {
  return {
    canary: t.canary !== undefined ? Math.round(t.weights.canary * 100) : 0,
    baseline: t.baseline !== undefined ? Math.round(t.weights.baseline * 100) : 0,
  };
}

/** The router's `versionForBucket`, by role. */
export function armOf(bucket: number, split: BucketSplit): Arm {
  if (bucket < split.canary) return 'canary';
  if (bucket >= BUCKETS - split.baseline) return 'baseline';
  return 'stable';
}

/** The bucket edges a split draws: where one version's buckets end and the next one's begin. */
export function edgesOf(split: BucketSplit): number[] {
  return [split.canary, BUCKETS - split.baseline].filter((e) => e > 0 && e < BUCKETS);
}
