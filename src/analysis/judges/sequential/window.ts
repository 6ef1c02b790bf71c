/** What the sequential judge sees each time it is checked: one window of counts per side. */

export interface LatencyWindow {
  /** How many of the window's requests were slower than each threshold (seconds), in order. */
  countAbove(thresholds: readonly number[]): number[];
  /** The window's q-quantile in seconds (NaN when empty). */
  quantile(q: number): number;
  /**
   * The q-quantile of this window's requests and `other`'s together, where the source can
   * pool them (NaN when both are empty, or `other` is not from the same source). The per-user test learns its thresholds from both
   * versions pooled, which (under "the canary changes nothing") do not depend on which users
   * are on which version.
   */
  pooledQuantile?(other: LatencyWindow, q: number): number;
  /** Set when latency is known only at a classic histogram's bucket bounds (seconds); countAbove then counts above the bound nearest each threshold. */
  bounds?: readonly number[];
}

/**
 * Distinct stickiness keys (users) in a window, each counted at most once per kind of event
 * over the whole analysis: a key counts in the window, and on the version, of its first
 * such request. Requests sent by a header or cookie route are not counted.
 */
export interface KeyWindow {
  /** Keys first seen. */
  seen: number;
  /** Keys whose first error this was. */
  failed: number;
  /** For each threshold (seconds), in order: keys whose first request slower than it this was. */
  slowAbove(thresholds: readonly number[]): number[];
}

export interface VersionWindow {
  requests: number;
  /** Requests that failed (5xx or no response); 4xx are the client's and do not count. */
  errors: number;
  latency?: LatencyWindow;
  /** Absent where the source has no user dimension (most mesh and ingress metrics). */
  keys?: KeyWindow;
}

export interface ComparisonWindow {
  canary: VersionWindow;
  /** The baseline when there is one, otherwise stable (the rest of the traffic). */
  control: VersionWindow;
  /** The canary's configured share of canary + control requests, for the sample-ratio guard. */
  expectedShare?: number;
  /**
   * The canary's configured share of canary + control keys (its buckets over both versions'),
   * when one split served all of the window: under "the canary changes nothing", a key's
   * first event is the canary's with exactly this probability, however many requests it sends.
   */
  keyShare?: number;
  /**
   * What the router assigns to a version, where the caller knows: a key (sticky users),
   * or each request on its own. It decides what `unit: auto` counts; unknown, the windows do.
   */
  assignment?: 'key' | 'request';
  /** Set on a window after the source's user counts started again (a router restart, a new tracker epoch): a user could count twice. */
  usersRestarted?: boolean;
}

/** The configured split all through a window, as the judge needs it; see ComparisonWindow. */
export interface SplitShares {
  /** Undefined when header or cookie routes also send requests to the canary. */
  requests?: number;
  keys: number;
  /** What the canary is compared with under this split: a baseline with weight, else stable. */
  control: 'baseline' | 'stable';
}
