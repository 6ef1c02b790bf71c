/**
 * A latency histogram with bounded relative error: bucket i holds values in
 * (γ^(i-1), γ^i] with γ = (1+α)/(1-α), and reports 2γ^i/(γ+1), which is within α of
 * every value in the bucket (the DDSketch construction). Buckets are fixed, so two
 * sketches — from two workers, or two seconds — merge by adding counts.
 */
export const RELATIVE_ACCURACY = 0.01;
const GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
const LN_GAMMA = Math.log(GAMMA);
/** Values below this (1 µs) count as zero; above MAX_VALUE (1 hour) they count as MAX_VALUE. */
export const MIN_VALUE = 1e-6;
export const MAX_VALUE = 3600;
const MIN_INDEX = Math.ceil(Math.log(MIN_VALUE) / LN_GAMMA);
const MAX_INDEX = Math.ceil(Math.log(MAX_VALUE) / LN_GAMMA);
const SIZE = MAX_INDEX - MIN_INDEX + 1;
/** The index standing for values below MIN_VALUE (counted as zero). */
export const ZERO_INDEX = MIN_INDEX - 1;

/** The bucket a value in seconds falls in: ZERO_INDEX below MIN_VALUE, MAX_VALUE's bucket above it. */
export function bucketIndex(value: number): number {
  if (!(value >= MIN_VALUE)) return ZERO_INDEX;
  return Math.ceil(Math.log(Math.min(value, MAX_VALUE)) / LN_GAMMA);
}

/** The JSON form: sparse [bucket index, count] pairs. */
export interface SketchSnapshot {
  accuracy: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  zero: number;
  bins: [number, number][];
}

export class LatencySketch {
  private readonly bins = new Float64Array(SIZE);
  private zero = 0;
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  /** Adds a value in seconds, `n` times (once unless said). */
  add(value: number, n = 1): void {
    if (!(n > 0)) return;
    this.count += n;
    this.sum += value * n;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    if (value < MIN_VALUE) {
      this.zero += n;
      return;
    }
    this.bins[bucketIndex(value) - MIN_INDEX]! += n;
  }

  merge(other: LatencySketch | SketchSnapshot): this {
    const snap = other instanceof LatencySketch ? other.toJSON() : other;
    if (snap.accuracy !== RELATIVE_ACCURACY)
      throw new Error(`cannot merge a sketch of accuracy ${snap.accuracy} into one of ${RELATIVE_ACCURACY}`);
    this.count += snap.count;
    this.sum += snap.sum;
    if (snap.count > 0) {
      this.min = Math.min(this.min, snap.min);
      this.max = Math.max(this.max, snap.max);
    }
    this.zero += snap.zero;
    for (const [index, n] of snap.bins) this.bins[index - MIN_INDEX]! += n;
    return this;
  }

  /** The q-quantile (0 ≤ q ≤ 1) to within the relative accuracy; NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    if (q <= 0) return this.min;
    if (q >= 1) return this.max;
    const rank = q * (this.count - 1);
    let seen = this.zero;
    if (rank < seen) return 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.bins[i]!;
      if (seen > rank) return Math.min(this.max, Math.max(this.min, representative(i + MIN_INDEX)));
    }
    return this.max;
  }

  /** How many values were ≤ `value`, counting a bucket when its representative is ≤ `value`. */
  countAtOrBelow(value: number): number {
    let n = this.zero;
    if (value < MIN_VALUE) return value >= 0 ? n : 0;
    const last = Math.min(MAX_INDEX, Math.ceil(Math.log(value) / LN_GAMMA));
    for (let i = MIN_INDEX; i <= last; i++) {
      if (i === last && representative(i) > value) break;
      n += this.bins[i - MIN_INDEX]!;
    }
    return n;
  }

  toJSON(): SketchSnapshot {
    const bins: [number, number][] = [];
    for (let i = 0; i < SIZE; i++) if (this.bins[i]! > 0) bins.push([i + MIN_INDEX, this.bins[i]!]);
    return {
      accuracy: RELATIVE_ACCURACY,
      count: this.count,
      sum: this.sum,
      min: this.min,
      max: this.max,
      zero: this.zero,
      bins,
    };
  }

  static from(snapshot: SketchSnapshot): LatencySketch {
    return new LatencySketch().merge(snapshot);
  }
}

/**
 * What `after` holds that `before` did not: the sketch of the values added between two
 * cumulative snapshots of the same sketch. A difference cannot know its extremes, so
 * `min` and `max` are the representatives of its lowest and highest buckets (within
 * the sketch's accuracy). Returns undefined when `after` is not a later state of
 * `before` (some count went down: the sketch was reset).
 */
export function subtractSnapshot(after: SketchSnapshot, before: SketchSnapshot): SketchSnapshot | undefined {
  if (after.accuracy !== before.accuracy || after.count < before.count || after.zero < before.zero) return undefined;
  const counts = new Map(after.bins);
  for (const [index, n] of before.bins) {
    const left = (counts.get(index) ?? 0) - n;
    if (left < 0) return undefined;
    if (left === 0) counts.delete(index);
    else counts.set(index, left);
  }
  const bins = [...counts].sort((a, b) => a[0] - b[0]);
  const zero = after.zero - before.zero;
  const count = after.count - before.count;
  const lowest = zero > 0 ? 0 : bins.length > 0 ? representative(bins[0]![0]) : Infinity;
  const highest = bins.length > 0 ? representative(bins[bins.length - 1]![0]) : zero > 0 ? 0 : -Infinity;
  return {
    accuracy: after.accuracy,
    count,
    sum: Math.max(0, after.sum - before.sum),
    min: lowest,
    max: highest,
    zero,
    bins,
  };
}

function representative(index: number): number {
  return (2 * Math.pow(GAMMA, index)) / (GAMMA + 1);
}
