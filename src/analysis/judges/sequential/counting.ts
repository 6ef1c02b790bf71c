/**
 * What the sequential judge counts in a window — requests, or users once per kind of event —
 * and how its latency thresholds are learned for each.
 */
import type { KeyWindow, VersionWindow } from './window.js';
import type { Part } from './types.js';

/** How fast a quantile threshold follows control's recent latency (per window). */
const THRESHOLD_SMOOTHING = 0.2;

/**
 * Users: how many pooled requests a quantile threshold learns from before it is fixed. A
 * user adds to a threshold's evidence once, at its first request above it, so the threshold
 * must not move once judging starts (a user could otherwise count again at each new one).
 * The windows it learned from are then judged against it too (`replayLearned`).
 */
function requestsToFix(q: number): number {
  return Math.max(1000, Math.ceil(50 / (1 - q)));
}

/** One side of a window as a metric counts it: what it was exposed to, what failed, what was slower than each threshold. */
export interface Counted {
  exposure: number;
  failed: number;
  above(thresholds: readonly number[]): number[];
}

/** Requests: each request is an observation. */
export function byRequest(v: VersionWindow): Counted {
  return {
    exposure: v.requests,
    failed: v.errors,
    above: (ts) => v.latency?.countAbove(ts) ?? ts.map(() => 0),
  };
}

/** Users: each user is an observation, once per kind of event. */
export function byUser(k: KeyWindow): Counted {
  return { exposure: k.seen, failed: k.failed, above: (ts) => k.slowAbove(ts) };
}

/** Moves a part's threshold towards a new quantile `v` (seconds): an average over the windows learned from. */
function follow(p: Part, v: number): void {
  p.logThreshold =
    p.logThreshold === undefined ? Math.log(v) : p.logThreshold + THRESHOLD_SMOOTHING * (Math.log(v) - p.logThreshold);
}

/** Requests: every threshold keeps following control's recent quantile. */
export function learnFromControl(parts: readonly Part[], control: VersionWindow): void {
  if (!control.latency || control.requests < 10) return;
  for (const p of parts) {
    const v = control.latency.quantile(p.quantile!);
    if (v > 0) follow(p, v);
  }
}

/** Users: a threshold learns from both versions pooled until it has seen enough requests, then stays fixed. */
export function learnPooled(parts: readonly Part[], canary: VersionWindow, control: VersionWindow): void {
  const pooled = canary.requests + control.requests;
  if (pooled < 10) return;
  for (const p of parts) {
    if (p.fixed) continue;
    const v = pooledQuantile(canary, control, p.quantile!);
    if (!(v > 0)) continue;
    follow(p, v);
    p.learned = (p.learned ?? 0) + pooled;
    if (p.learned >= requestsToFix(p.quantile!)) p.fixed = true;
  }
}

/**
 * The q-quantile of both versions' requests together; NaN (nothing learned) where the
 * source cannot pool them: control's own quantile would depend on which users it has.
 */
function pooledQuantile(canary: VersionWindow, control: VersionWindow, q: number): number {
  const [a, b] = [canary.latency, control.latency];
  return a && b && a.pooledQuantile ? a.pooledQuantile(b, q) : NaN;
}

/** One window of users kept while a threshold is learned, to be judged against it once it is fixed. */
export interface LearnedWindow {
  canary: Counted;
  control: Counted;
  /** The configured share of users the window is held to. */
  share: number;
}

/**
 * Users: judges the windows a threshold was learned from against it, once it is fixed, so
 * that every user counts at its first request above it since the release began — as if the
 * threshold had been known from the start — rather than only users not yet above it.
 * (Judging only from the fix on, the users whose first slow request fell in the learning
 * were spent uncounted: on a 3× slower canary nearly all its users then, against half of
 * control's, so the canary's share of the later events sank towards nothing.)
 *
 * Valid because the threshold is learned from both versions pooled. Under "the canary
 * changes nothing", the pooled requests are the same whichever users are on which version:
 * the threshold, and when each user first goes above it, are functions of the users'
 * behaviour alone, and which version a user is on is its bucket, drawn apart from all of
 * it. So given the threshold, each such user is the canary's with the window's configured
 * share exactly as if the threshold had been fixed in advance; the product of the learned
 * windows' likelihood ratios has expectation ≤ 1, and the later windows continue the same
 * test supermartingale. (Control's own quantile would not do: it depends on which users
 * control has, so judging its own windows against it would not be fair to either side;
 * the request-level test, which follows control's, judges only later windows.)
 */
export function replayLearned(p: Part, windows: readonly LearnedWindow[]): void {
  const threshold = [Math.exp(p.logThreshold!)];
  for (const w of windows) p.mixture.update(w.canary.above(threshold)[0]!, w.control.above(threshold)[0]!, w.share);
}
