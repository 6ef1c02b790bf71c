import { murmur3 } from './hash.js';
import { BUCKETS } from '../shared/buckets.js';

export { BUCKETS, toBuckets, versionForBucket, type BucketWeights } from '../shared/buckets.js';

/** The bucket a stickiness key falls in; the service seeds it so users are not correlated across services. */
export function bucketOf(key: string, seed: number): number {
  return murmur3(key, seed) % BUCKETS;
}

export function randomBucket(): number {
  return Math.floor(Math.random() * BUCKETS);
}
