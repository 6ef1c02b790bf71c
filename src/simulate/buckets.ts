/**
 * Sticky assignment as kanari's router does it, by the one rule both use
 * (src/shared/buckets.ts): 10,000 buckets, the canary's growing from 0 up and the
 * baseline's from the top down, so a user changes version only when a weight moves past
 * its bucket.
 */
import type { TrafficState } from '../rollout/types.js';
import { BUCKETS, toBuckets, versionForBucket, type BucketWeights } from '../shared/buckets.js';

export { BUCKETS };

export type Arm = 'canary' | 'stable' | 'baseline';
export const ARMS: readonly Arm[] = ['canary', 'stable', 'baseline'];

/** The canary's and the baseline's buckets under a routing table (none without the version). */
export type BucketSplit = BucketWeights;

export function bucketSplit(t: TrafficState): BucketSplit {
  return toBuckets({
    canary: t.canary !== undefined ? t.weights.canary : 0,
    baseline: t.baseline !== undefined ? t.weights.baseline : 0,
  });
}

/** The version a bucket is on, by role: the router's own rule. */
export const armOf: (bucket: number, split: BucketSplit) => Arm = versionForBucket;

/** The bucket edges a split draws: where one version's buckets end and the next one's begin. */
export function edgesOf(split: BucketSplit): number[] {
  return [split.canary, BUCKETS - split.baseline].filter((e) => e > 0 && e < BUCKETS);
}
