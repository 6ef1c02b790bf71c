import type { Version } from '../config/schemas/table.js';
import { murmur3 } from './hash.js';

/** Traffic is split in hundredths of a percent: 10,000 buckets. */
export const BUCKETS = 10_000;

/** Shares in buckets (hundredths of a percent); stable gets what is left. */
export interface BucketWeights {
  canary: number;
  baseline: number;
}

export function toBuckets(weights: { canary: number; baseline: number }): BucketWeights {
  return { canary: Math.round(weights.canary * 100), baseline: Math.round(weights.baseline * 100) };
}

/** The bucket a stickiness key falls in; the service seeds it so users are not correlated across services. */
export function bucketOf(key: string, seed: number): number {
  return murmur3(key, seed) % BUCKETS;
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

export function randomBucket(): number {
  return Math.floor(Math.random() * BUCKETS);
}
