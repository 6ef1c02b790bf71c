/**
 * What a stored history bucket must look like to be read: rows are JSON in a file anyone
 * with the state directory can edit, or that another kanari wrote, so each is checked and
 * one that does not fit is left out (never merged, never a crash of the save or the answer).
 */
import { z } from 'zod';
import { RELATIVE_ACCURACY } from '../shared/sketch.js';
import { VERSIONS } from '../shared/stats-snapshot.js';
import { TRAFFIC, type EvidenceBucket, type TrafficBucket } from './history.js';

const count = z.number().nonnegative();
// JSON writes an empty sketch's infinite extremes as null.
const extreme = (empty: number) =>
  z
    .number()
    .nullable()
    .transform((v) => v ?? empty);

const denseSketch = z.object({
  accuracy: z.literal(RELATIVE_ACCURACY),
  count,
  sum: z.number(),
  min: extreme(Infinity),
  max: extreme(-Infinity),
  zero: count,
  first: z.number().int().min(-10_000).max(10_000),
  counts: z.array(count).max(4096),
});

const trafficCell = z.object({
  requests: count,
  errors: count,
  maxErrorRate: count,
  maxP99: count,
  latency: denseSketch,
});
const trafficBucket = z.partialRecord(z.enum(VERSIONS), trafficCell);

const evidenceBucket = z.object({
  template: z.string(),
  metrics: z.record(z.string(), z.object({ logE: z.number(), maxLogE: z.number(), rollbackAt: z.number() })),
});

/** A stored bucket of `series`, or undefined when it is not JSON or not of its series' shape. */
export function readBucket(series: string, text: string): TrafficBucket | EvidenceBucket | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  return checkBucket(series, json);
}

/** A bucket of `series` already parsed from JSON (a ConfigMap's), or undefined when it is not of its series' shape. */
export function checkBucket(series: string, json: unknown): TrafficBucket | EvidenceBucket | undefined {
  const parsed = (series === TRAFFIC ? trafficBucket : evidenceBucket).safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
