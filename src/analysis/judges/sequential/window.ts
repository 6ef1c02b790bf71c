/** What the sequential judge sees each time it is checked: one window of counts per side. */

export interface LatencyWindow {
  /** How many of the window's requests were slower than each threshold (seconds), in order. */
  countAbove(thresholds: readonly number[]): number[];
  /** The window's q-quantile in seconds (NaN when empty). */
  quantile(q: number): number;
  /** Set when latency is known only at a classic histogram's bucket bounds (seconds); countAbove then counts above the bound nearest each threshold. */
  bounds?: readonly number[];
}

export interface VersionWindow {
  requests: number;
  /** Requests that failed (5xx or no response); 4xx are the client's and do not count. */
  errors: number;
  latency?: LatencyWindow;
}

export interface ComparisonWindow {
  canary: VersionWindow;
  /** The baseline when there is one, otherwise stable (the rest of the traffic). */
  control: VersionWindow;
  /** The canary's configured share of canary + control requests, for the sample-ratio guard. */
  expectedShare?: number;
}
