/**
 * How sticky users are split: the rule kanari's router routes by (src/router/split.ts) and
 * the simulator assigns its users by (src/simulate/buckets.ts), so both move a user at the
 * same weight step. A contract between them, so it lives below both.
 */
import type { Version } from './stats-snapshot.js';

/** Traffic is split in hundredths of a percent: 10,000 buckets. */
export const BUCKETS = 10_000;

/** Shares in buckets (hundredths of a percent); stable gets what is left. */
export interface BucketWeights {
  canary: number;
  baseline: number;
}

/** Percent weights in buckets. */
export function toBuckets(weights: { canary: number; baseline: number }): BucketWeights {
  return { canary: Math.round(weights.canary * 100), baseline: Math.round(weights.baseline * 100) };
}

/**
 * Canary grows from the bottom bucket up and baseline from the top down, so while
 * either weight only grows, nobody already on that version is moved off it; at weight
 * 0 everyone is back on stable at once.
 */
export function versionForBucket(bucket: number, weights: BucketWeights): Version {
  if (bucket < weights.canary) return 'canary';
  if (bucket >= BUCKETS - weights.baseline) return 'baseline';
  return 'stable';
}
