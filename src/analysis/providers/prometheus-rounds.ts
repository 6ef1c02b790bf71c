/**
 * Counts from series that several targets export (Istio's sidecars: one target per pod;
 * several gateway or controller replicas), which share no scrape timestamps. Windows are
 * then cut on a grid one scrape interval wide, starting where the last window ended: a
 * series' count in a window is the sum of the increases between its consecutive samples
 * whose later sample falls in it, so every increase lands in exactly one window, as in the
 * one-target case. Each window holds about one scrape of every target, so both versions'
 * counts cover nearly the same time; they differ by up to one scrape interval at each edge,
 * which is what a recording rule's `sum` would give too (docs/analysis.md). That is fair
 * only while errors come at a steady rate, so windows are joined where it jumps
 * (joinUnsteady; bench/grid measures why).
 */
/** A counter's increase between two samples; a drop means it restarted from zero, so its new value is the count since. */
export function increase(before: number, after: number): number {
  return after >= before ? after - before : after;
}

/**
 * How far before the first window samples are read: far enough that every target has been
 * scraped several times (so several targets are told apart from the first check, even one a
 * second wide) and each series' value where the windows start is known. Longer scrape
 * intervals read back four of them, up to ROUNDS_MAX_LOOKBACK_MS.
 */
export const ROUNDS_LOOKBACK_MS = 60_000;
export const ROUNDS_MAX_LOOKBACK_MS = 600_000;

interface SeriesSamples {
  byTime: Map<number, number>;
}

/**
 * The scrape interval the grid uses: the longest of the series' median spacings, so a
 * window holds a scrape of every target; undefined until some series has two samples.
 */
export function scrapeInterval(series: readonly SeriesSamples[]): number | undefined {
  let longest: number | undefined;
  for (const s of series) {
    const times = [...s.byTime.keys()].sort((a, b) => a - b);
    if (times.length < 2) continue;
    const gaps = times
      .slice(1)
      .map((t, i) => t - times[i]!)
      .sort((a, b) => a - b);
    const median = gaps[Math.floor(gaps.length / 2)]!;
    longest = Math.max(longest ?? 0, median);
  }
  return longest;
}

/**
 * The window ends after `after`: one interval apart, each at least one interval before
 * `until` (a target scraped just before a bound may not be stored yet, and a late sample
 * must not move an increase into a window already counted).
 */
export function gridEnds(after: number, until: number, interval: number): number[] {
  const ends: number[] = [];
  for (let end = after + interval; end <= until - interval; end += interval) ends.push(end);
  return ends;
}

/**
 * One series' count in (`start`, `end`]: the increases whose later sample falls there. A
 * series whose first sample read comes after `bornAfter` appeared within the range and
 * counts from zero; an earlier first sample is only where its counting starts.
 */
export function countInWindow(s: SeriesSamples, start: number, end: number, bornAfter: number): number {
  const times = [...s.byTime.keys()].sort((a, b) => a - b);
  let n = 0;
  for (let i = 0; i < times.length; i++) {
    const t = times[i]!;
    if (t <= start || t > end) continue;
    const value = s.byTime.get(t)!;
    if (i > 0) n += increase(s.byTime.get(times[i - 1]!)!, value);
    else if (t > bornAfter) n += value;
  }
  return n;
}

/** The most grid windows one judged window joins, so a long unsteady stretch still reaches the judge. */
export const MOST_JOINED = 8;

/** One grid window's counts, all versions pooled: what the steadiness test reads. */
export interface PooledWindow {
  start: number;
  end: number;
  requests: number;
  errors: number;
}

/**
 * Whether two windows' pooled error rates agree as far as the counts can tell: given both
 * windows' errors, the later one's are binomial in its share of the requests; a jump is
 * more than three standard deviations (and two errors) off.
 */
export function steadyAcross(before: PooledWindow, after: PooledWindow): boolean {
  const errors = before.errors + after.errors;
  if (errors === 0) return true;
  if (before.requests === 0 || after.requests === 0) return false;
  const q = after.requests / (before.requests + after.requests);
  return Math.abs(after.errors - errors * q) <= 3 * Math.sqrt(errors * q * (1 - q)) + 2;
}

/**
 * The windows to judge: grid windows joined so that each ends where the error rate is
 * steady. A target's counts in a window run from its own scrape before the window to its
 * last scrape in it: the window shifted back by under one interval, by a different amount
 * for each target. While errors come at a steady rate over a window and the interval
 * before its end, every shifted span holds its fair part; a burst (a shared dependency
 * failing) near an edge falls before it for some targets and after it for others, so for
 * a window one version has more of the burst than its share, and the judge looks at every
 * window. So a window ends only where the grid window before it, it and the one after it
 * agree (steadyAcross); otherwise it takes in the next, up to MOST_JOINED. The last one
 * waits for the window after it. `previous` is the grid window before the first. Only the
 * versions pooled are read, never how they split, so where the edges fall says nothing
 * about which version is worse.
 */
export function joinUnsteady(
  windows: readonly PooledWindow[],
  previous?: PooledWindow,
): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  let start: number | undefined;
  let joined = 0;
  for (let i = 0; i < windows.length; i++) {
    const w = windows[i]!;
    start ??= w.start;
    joined++;
    const [before, after] = [i === 0 ? previous : windows[i - 1], windows[i + 1]];
    const steady = after !== undefined && (before === undefined || steadyAcross(before, w)) && steadyAcross(w, after);
    if (steady || joined >= MOST_JOINED) {
      out.push({ start, end: w.end });
      start = undefined;
      joined = 0;
    }
  }
  return out;
}
