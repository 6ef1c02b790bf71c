/**
 * A population of users as counts, never one object per user: users are grouped into rate
 * classes, and each class is counted per bucket range (a segment) by what its users have
 * done since the key tracker started — not seen yet, seen without an error, failed. A user
 * with rate λ sends a Poisson stream, so in a second at load multiplier m it is seen with
 * probability 1 − e^(−λm) and first fails with probability 1 − e^(−λmp): new seen and new
 * failing users are binomials of the counts still waiting, exact for every class.
 *
 * Buckets are uniform and independent of rates, so the users of a segment are uniform over
 * its buckets; when a weight step puts an edge inside a segment, each count splits by a
 * binomial of the share of buckets below the edge (exact), and the users move with their
 * segment to the version its buckets now belong to — a user changes version, never its
 * history. First-slow users are tracked per threshold from the first time the judge asks
 * for it, and then drawn for every second since the tracker started, as the router (which
 * keeps each key's slowest request) could answer any threshold of any past second; see `track`.
 */
import type { Random } from '../analysis/stats/random.js';
import { armOf, BUCKETS, edgesOf, type Arm, type BucketSplit } from './buckets.js';
import { slowerThan, type VersionBehaviour } from './traffic.js';

/** Users who send at one rate (requests per second at a load multiplier of 1). */
export interface RateClass {
  rate: number;
  users: number;
}

/**
 * `count` users sending `rate` between them. With a Pareto `shape`, classes cover halving
 * tails of the distribution (the top half, quarter, eighth… of users by rate), each at its
 * mean rate, so the heaviest users are their own class; without one, every user sends alike.
 */
export function rateClasses(count: number, rate: number, shape?: number): RateClass[] {
  if (shape === undefined || count === 1) return [{ rate: rate / count, users: count }];
  const classes = Math.max(1, Math.min(24, Math.floor(Math.log2(count))));
  const out: { mean: number; users: number }[] = [];
  let below = 0;
  for (let j = 0; j < classes; j++) {
    const users = j === classes - 1 ? count - below : Math.round(count / 2 ** (j + 1));
    // The mean of a Pareto(1, shape) over the quantiles [u1, u2) of this class.
    const [u1, u2] = [below / count, (below + users) / count];
    const e = 1 - 1 / shape;
    out.push({ mean: ((1 - u1) ** e - (1 - u2) ** e) / (e * (u2 - u1)), users });
    below += users;
  }
  const total = out.reduce((s, c) => s + c.mean * c.users, 0);
  return out.filter((c) => c.users > 0).map((c) => ({ rate: (rate * c.mean) / total, users: c.users }));
}

interface Cell {
  unseen: number;
  seenOk: number;
  failed: number;
  /** Per tracked threshold (seconds): users never yet slower than it. */
  notSlow: Map<number, number>;
}

interface Segment {
  /** Buckets [lo, hi). */
  lo: number;
  hi: number;
  /** One per rate class. */
  cells: Cell[];
}

/** One second since the tracker started, as a threshold asked later needs it: each segment's version and latency, the load, and the new keys it reported. */
interface Second {
  segments: { lo: number; hi: number; arm: Arm; latency: VersionBehaviour['latency'] }[];
  load: number;
  keys: Record<Arm, ArmKeys>;
}

/** A bucket range [lo, hi) while a threshold is drawn over the past: per rate class, users never yet slower than it. */
interface Range {
  lo: number;
  hi: number;
  left: number[];
}

/** New keys of each version in one second. */
export interface ArmKeys {
  seen: number;
  failed: number;
  /** Per tracked threshold. */
  slow: Map<number, number>;
}

export function emptyArmKeys(): Record<Arm, ArmKeys> {
  return {
    canary: { seen: 0, failed: 0, slow: new Map() },
    stable: { seen: 0, failed: 0, slow: new Map() },
    baseline: { seen: 0, failed: 0, slow: new Map() },
  };
}

export class Population {
  private segments: Segment[];
  private readonly thresholds = new Set<number>();
  /** Every second since the tracker started. */
  private seconds: Second[] = [];

  constructor(
    private readonly classes: readonly RateClass[],
    private readonly random: Random,
  ) {
    this.segments = [{ lo: 0, hi: BUCKETS, cells: classes.map((c) => freshCell(c.users)) }];
  }

  /** Expected requests per second of each version at this split and load. */
  rates(split: BucketSplit, load: number): Record<Arm, number> {
    const out: Record<Arm, number> = { canary: 0, stable: 0, baseline: 0 };
    this.place(split);
    for (const s of this.segments)
      out[armOf(s.lo, split)] += s.cells.reduce((sum, c, i) => sum + usersOf(c) * this.classes[i]!.rate * load, 0);
    return out;
  }

  /** Everyone unseen again: the tracker started empty (nobody was sent to a canary or baseline). */
  reset(): void {
    for (const s of this.segments) for (const c of s.cells) Object.assign(c, freshCell(usersOf(c)));
    this.thresholds.clear();
    this.seconds = [];
  }

  /** Draws one second: the users first seen, first failing and first slow (tracked thresholds) on each version. */
  step(split: BucketSplit, load: number, behaviours: Record<Arm, VersionBehaviour>): Record<Arm, ArmKeys> {
    this.place(split);
    const arms = this.segments.map((s) => armOf(s.lo, split));
    const out = emptyArmKeys();
    const { random } = this;
    for (const [k, s] of this.segments.entries()) {
      const arm = arms[k]!;
      const p = behaviours[arm].errorRate;
      for (const [i, c] of s.cells.entries()) {
        const mu = this.classes[i]!.rate * load;
        const sendFails = -Math.expm1(-mu * p);
        // A user not seen before who sends this second fails with P(≥ 1 error | ≥ 1 request).
        const seen = random.binomial(c.unseen, -Math.expm1(-mu));
        const failedNew = seen > 0 ? random.binomial(seen, sendFails / -Math.expm1(-mu)) : 0;
        const failedOld = random.binomial(c.seenOk, sendFails);
        c.unseen -= seen;
        c.seenOk += seen - failedNew - failedOld;
        c.failed += failedNew + failedOld;
        out[arm].seen += seen;
        out[arm].failed += failedNew + failedOld;
      }
    }
    const second: Second = {
      segments: this.segments.map((s, k) => ({
        lo: s.lo,
        hi: s.hi,
        arm: arms[k]!,
        latency: behaviours[arms[k]!].latency,
      })),
      load,
      keys: out,
    };
    this.seconds.push(second);
    for (const t of this.thresholds) {
      const ranges = this.segments.map((s) => ({ lo: s.lo, hi: s.hi, left: s.cells.map((c) => c.notSlow.get(t)!) }));
      this.stepSlow(t, second, ranges);
      this.segments.forEach((s, k) => s.cells.forEach((c, i) => c.notSlow.set(t, ranges[k]!.left[i]!)));
    }
    return out;
  }

  /**
   * Starts counting users first slower than `t`, from the second the tracker started: each
   * past second's new slow users are added to the keys it reported, drawn second by second
   * from the users never slower than t before it (probability 1 − e^(−λ·load·S(t)) in a
   * second), with the segments as they were then. Segments only split between resets, so a
   * past segment's users are those of today's segments inside it, and its count of users not
   * yet slow splits among them as `place` splits every count.
   */
  track(t: number): void {
    if (this.thresholds.has(t)) return;
    this.thresholds.add(t);
    let ranges: Range[] = [{ lo: 0, hi: BUCKETS, left: this.classes.map((c) => c.users) }];
    for (const second of this.seconds) {
      ranges = this.refine(ranges, second.segments);
      this.stepSlow(t, second, ranges);
    }
    ranges = this.refine(ranges, this.segments);
    for (const [k, s] of this.segments.entries()) s.cells.forEach((c, i) => c.notSlow.set(t, ranges[k]!.left[i]!));
  }

  /** One second's new slow users above `t`, for each of `ranges` (one per segment of the second, in order). */
  private stepSlow(t: number, second: Second, ranges: Range[]): void {
    for (const [k, s] of second.segments.entries()) {
      const slow = slowerThan(t, s.latency);
      const r = ranges[k]!;
      let n = 0;
      for (const [i, left] of r.left.entries()) {
        const d = left > 0 ? this.random.binomial(left, -Math.expm1(-this.classes[i]!.rate * second.load * slow)) : 0;
        r.left[i] = left - d;
        n += d;
      }
      const keys = second.keys[s.arm];
      keys.slow.set(t, (keys.slow.get(t) ?? 0) + n);
    }
  }

  /** `ranges` split at the edges of `segments` (a partition as fine or finer), one range per segment. */
  private refine(ranges: Range[], segments: readonly { lo: number; hi: number }[]): Range[] {
    const out: Range[] = [];
    for (const s of segments) {
      let r = ranges.find((x) => x.lo <= s.lo && s.hi <= x.hi)!;
      for (const edge of [s.lo, s.hi]) {
        if (edge <= r.lo || edge >= r.hi) continue;
        const low: Range = { lo: r.lo, hi: edge, left: [] };
        const high: Range = { lo: edge, hi: r.hi, left: [] };
        r.left.forEach((left, i) => {
          low.left[i] = hypergeometric(this.random, this.usersIn(r.lo, r.hi, i), left, this.usersIn(r.lo, edge, i));
          high.left[i] = left - low.left[i]!;
        });
        ranges = ranges.flatMap((x) => (x === r ? [low, high] : [x]));
        r = edge === s.lo ? high : low;
      }
      out.push(r);
    }
    return out;
  }

  /** Users of rate class `i` in buckets [lo, hi): today's segments are as fine as any before. */
  private usersIn(lo: number, hi: number, i: number): number {
    let n = 0;
    for (const s of this.segments) if (s.lo >= lo && s.hi <= hi) n += usersOf(s.cells[i]!);
    return n;
  }

  /** Splits the segments at the split's edges, so each lies wholly in one version's buckets. */
  private place(split: BucketSplit): void {
    for (const edge of edgesOf(split)) {
      const at = this.segments.findIndex((s) => s.lo < edge && edge < s.hi);
      if (at < 0) continue;
      const s = this.segments[at]!;
      const share = (edge - s.lo) / (s.hi - s.lo);
      const parts = s.cells.map((c) => this.splitCell(c, share));
      this.segments.splice(
        at,
        1,
        { lo: s.lo, hi: edge, cells: parts.map((p) => p[0]) },
        { lo: edge, hi: s.hi, cells: parts.map((p) => p[1]) },
      );
    }
  }

  private splitCell(c: Cell, share: number): [Cell, Cell] {
    const { random } = this;
    const low: Cell = {
      unseen: random.binomial(c.unseen, share),
      seenOk: random.binomial(c.seenOk, share),
      failed: random.binomial(c.failed, share),
      notSlow: new Map(),
    };
    const high: Cell = {
      unseen: c.unseen - low.unseen,
      seenOk: c.seenOk - low.seenOk,
      failed: c.failed - low.failed,
      notSlow: new Map(),
    };
    for (const [t, left] of c.notSlow) {
      const below = hypergeometric(random, usersOf(c), left, usersOf(low));
      low.notSlow.set(t, below);
      high.notSlow.set(t, left - below);
    }
    return [low, high];
  }
}

function freshCell(users: number): Cell {
  return { unseen: users, seenOk: 0, failed: 0, notSlow: new Map() };
}

function usersOf(c: Cell): number {
  return c.unseen + c.seenOk + c.failed;
}

/**
 * Of `n` drawn without replacement from `total` holding `marked`, how many are marked: exact
 * draw by draw when either side is small, otherwise the normal approximation (as
 * `Random.binomial` makes for large counts).
 */
export function hypergeometric(random: Random, total: number, marked: number, n: number): number {
  if (n <= 0 || marked <= 0) return 0;
  if (n >= total) return marked;
  if (Math.min(n, marked) <= 64) {
    // Walk the smaller of the sample and the marked items, each in with the chance left.
    const [walk, other] = n <= marked ? [n, marked] : [marked, n];
    let hits = 0;
    for (let i = 0; i < walk; i++) if (random.uniform() < (other - hits) / (total - i)) hits++;
    return hits;
  }
  const mean = (n * marked) / total;
  const variance = mean * ((total - marked) / total) * ((total - n) / Math.max(1, total - 1));
  const x = Math.round(mean + Math.sqrt(variance) * random.normal());
  return Math.min(n, marked, Math.max(0, n + marked - total, x));
}
