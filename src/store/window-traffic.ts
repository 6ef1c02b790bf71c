/**
 * A counted window as the history's traffic: a sequential run's `window` measurement holds,
 * per version, the requests and 5xx its count source counted (Prometheus, on a cluster) and,
 * where that source reads a histogram, the bucket bounds and the requests above each. Here
 * one version's counts become a traffic cell, its latency a sketch rebuilt from the
 * histogram. Apart from the log that keeps the cells (kubernetes-log.ts): what a window's
 * counts say is pure arithmetic, tested as a table; the log's concern is when and over what
 * it writes them.
 */
import { LatencySketch } from '../shared/sketch.js';
import { denseSketch, type TrafficCell } from './history.js';

/** One version's counts in a window measurement, as read from it (a measurement's value is any shape). */
export interface CountedVersion {
  requests?: unknown;
  errors?: unknown;
  /** A histogram source's bucket bounds (s), and the window's requests above each. */
  bounds?: unknown;
  above?: unknown;
}

/** A window's counts of one version as a traffic cell; undefined when it served nothing or is not counts. */
export function trafficCellOf(c: CountedVersion | undefined): TrafficCell | undefined {
  const requests = c?.requests;
  const errors = c?.errors;
  if (typeof requests !== 'number' || typeof errors !== 'number' || !(requests > 0) || !(errors >= 0)) return undefined;
  const latency = histogramSketch(requests, c!.bounds, c!.above);
  return {
    requests,
    errors,
    maxErrorRate: Math.min(1, errors / requests),
    maxP99: latency && latency.count > 0 ? latency.quantile(0.99) : 0,
    latency: denseSketch((latency ?? new LatencySketch()).toJSON()),
  };
}

/**
 * A window's latency as its histogram knows it: each bucket's requests at the bucket's upper
 * bound (the most Prometheus' histogram_quantile could say of them), those above the last
 * finite bound at that bound (more is not known). Undefined where the counts are not a
 * histogram's: bounds positive and increasing, counts above them falling and within the requests.
 */
function histogramSketch(requests: number, bounds: unknown, above: unknown): LatencySketch | undefined {
  if (!Array.isArray(bounds) || !Array.isArray(above) || bounds.length === 0 || bounds.length !== above.length)
    return undefined;
  const b = bounds as unknown[];
  const a = above as unknown[];
  const fits = b.every(
    (x, i) =>
      typeof x === 'number' &&
      x > 0 &&
      Number.isFinite(x) &&
      (i === 0 || x > (b[i - 1] as number)) &&
      typeof a[i] === 'number' &&
      (a[i] as number) >= 0 &&
      (a[i] as number) <= (i === 0 ? requests : (a[i - 1] as number)),
  );
  if (!fits) return undefined;
  const [at, n] = [b as number[], a as number[]];
  const sketch = new LatencySketch();
  sketch.add(at[0]!, requests - n[0]!);
  for (let i = 1; i < at.length; i++) sketch.add(at[i]!, n[i - 1]! - n[i]!);
  sketch.add(at.at(-1)!, n.at(-1)!);
  return sketch;
}
