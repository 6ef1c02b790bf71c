/** Descriptive statistics with the conventions Kayenta's judge uses (commons-math). */

export interface Summary {
  min: number;
  max: number;
  mean: number;
  /** Sample standard deviation (n − 1); 0 for fewer than two values. */
  std: number;
  count: number;
}

export function mean(values: readonly number[]): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Every field is 0 for an empty array, as in Kayenta's stored metadata. */
export function summarize(values: readonly number[]): Summary {
  const count = values.length;
  if (count === 0) return { min: 0, max: 0, mean: 0, std: 0, count: 0 };
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const m = mean(values);
  let squares = 0;
  for (const v of values) squares += (v - m) ** 2;
  return { min, max, mean: m, std: count > 1 ? Math.sqrt(squares / (count - 1)) : 0, count };
}

/** The R-7 percentile (p in [0, 100]); numpy's default "linear" method. NaN when empty. */
export function percentileR7(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  const h = ((n - 1) * p) / 100 + 1;
  if (h <= 1) return s[0]!;
  if (h >= n) return s[n - 1]!;
  const lo = Math.floor(h);
  return s[lo - 1]! + (h - lo) * (s[lo]! - s[lo - 1]!);
}

/**
 * 1-based ranks with ties given their mean rank (NaN ranks highest), plus Σ(t³ − t) over
 * groups of tied values, the tie correction of the rank-sum variance.
 */
export function averageRanks(values: readonly number[]): { ranks: Float64Array; ties: number } {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => compareNaNLast(values[i]!, values[j]!));
  const ranks = new Float64Array(n);
  let ties = 0;
  for (let start = 0; start < n;) {
    let end = start + 1;
    while (end < n && sameValue(values[order[end]!]!, values[order[start]!]!)) end++;
    const rank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) ranks[order[k]!] = rank;
    const t = end - start;
    ties += t * t * t - t;
    start = end;
  }
  return { ranks, ties };
}

function compareNaNLast(a: number, b: number): number {
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
  if (Number.isNaN(b)) return -1;
  return a - b;
}

function sameValue(a: number, b: number): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

/** A small seeded PRNG (mulberry32), so every "random" step in a judge or simulation can be replayed. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
