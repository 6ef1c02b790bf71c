/**
 * Counts from series that several targets export (Istio's sidecars: one target per pod;
 * several gateway or controller replicas), which share no scrape timestamps. Windows are
 * then cut on a grid one scrape interval wide, starting where the last window ended: a
 * series' count in a window is the sum of the increases between its consecutive samples
 * whose later sample falls in it, so every increase lands in exactly one window, as in the
 * one-target case. Each window holds about one scrape of every target, so both versions'
 * counts cover nearly the same time; they differ by up to one scrape interval at each edge,
 * which is what a recording rule's `sum` would give too (docs/analysis.md).
 */
/** A counter's increase between two samples; a drop means it restarted from zero, so its new value is the count since. */
export function increase(before: number, after: number): number {
  return after >= before ? after - before : after;
}

/** How far before the first window the samples are read, to know each series' value there. */
export const ROUNDS_LOOKBACK_MS = 60_000;

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
