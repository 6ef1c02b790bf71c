/**
 * The `CountSource` seam: where the sequential judge's per-version counts come from.
 * A source answers "what was counted in each interval that ended after `after`, up to
 * `until`": whole intervals with integer requests, errors and latency per version. Its
 * outcomes are the providers' own, so an outage (`error`, `timeout`) or no data yet
 * (`empty`) is never read as an interval of zeros; `misconfigured` errors say the
 * template cannot work against this source at all, and end the analysis as Error.
 */
import type { Version } from '../../config/schemas/table.js';
import type { SequentialMetric } from '../judges/sequential/judge.js';
import type { ComparisonWindow, SplitShares, VersionWindow } from '../judges/sequential/window.js';

/** What one source counted in one interval (`start`, `end`], per version. */
export interface CountWindow {
  start: number;
  end: number;
  versions: Record<Version, VersionWindow>;
}

export type CountsResult =
  | { kind: 'value'; windows: CountWindow[] }
  | { kind: 'empty'; message: string }
  | { kind: 'error'; message: string; misconfigured?: true }
  | { kind: 'timeout'; message: string };

export interface CountSource {
  readonly name: 'builtin' | 'prometheus';
  /** The intervals that ended in (`after`, `until`], oldest first, each ending where the next begins. */
  windows(after: number, until: number): Promise<CountsResult>;
}

/**
 * The sequential judge's view of one interval: canary against the baseline when a
 * baseline served traffic, otherwise against stable.
 */
export function comparisonOf(w: CountWindow, shares?: SplitShares): ComparisonWindow {
  const { canary, baseline, stable } = w.versions;
  // The split says what control is; a baseline that served nobody in a quiet second is still control.
  const againstBaseline = shares ? shares.control === 'baseline' : baseline.requests > 0;
  return {
    canary,
    control: againstBaseline ? baseline : stable,
    ...(shares?.requests === undefined ? {} : { expectedShare: shares.requests }),
    ...(shares === undefined ? {} : { keyShare: shares.keys }),
  };
}

/**
 * Why bucketed latency cannot serve these metrics, if it cannot: a `slow` threshold must be
 * a bucket bound (between two bounds its count is unknown), and latency needs bounds at all.
 */
export function latencyMisfit(metrics: readonly SequentialMetric[], w: CountWindow): string | undefined {
  const bounds = w.versions.canary.latency?.bounds;
  if (!bounds) return undefined;
  const list = bounds.map((b) => `${b * 1000} ms`).join(', ');
  for (const m of metrics) {
    if (m.kind === 'errors') continue;
    if (bounds.length === 0) return `metric "${m.name}" needs latency, but the histogram has no finite bucket bounds`;
    if (m.kind === 'slow' && !bounds.some((b) => Math.abs(b - m.threshold) <= 1e-9 * b))
      return `metric "${m.name}": ${m.threshold * 1000} ms is not a bucket bound of the histogram, so slow requests cannot be counted; use one of ${list}`;
  }
  return undefined;
}
