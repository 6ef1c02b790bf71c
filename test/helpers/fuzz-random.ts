/**
 * Seeded randomness for the fuzzers: every case is a pure function of (seed, case index),
 * so one failing case can be replayed alone with KANARI_FUZZ_SEED and KANARI_FUZZ_CASE.
 */

/** mulberry32: a small 32-bit PRNG with good enough spread for choosing mutations. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A PRNG for case `index` of the run seeded `seed`, independent of every other case. */
  static forCase(seed: number, index: number): Rng {
    return new Rng(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35));
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }

  /** A copy of `items` in random order. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** `n` printable ASCII characters (no CR/LF), for values and bodies. */
  text(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.int(0x20, 0x7e));
    return s;
  }

  /** `n` arbitrary bytes as a latin1 string, for bodies. */
  bytes(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.int(0, 255));
    return s;
  }

  /** Cut points that split `length` bytes into up to `pieces` writes. */
  cuts(length: number, pieces: number): number[] {
    const points = new Set<number>();
    for (let i = 1; i < pieces && length > 1; i++) points.add(this.int(1, length - 1));
    return [...points].sort((a, b) => a - b);
  }
}

/** The seed `npm test` uses, so the suite runs the same cases every time. */
const DEFAULT_SEED = 0x6b616e61;

/**
 * The run's seed: KANARI_FUZZ_SEED (a number, or `random` to explore new cases), else the
 * fixed default; printed so a failure can be replayed.
 */
export function fuzzSeed(name: string): number {
  const fromEnv = process.env.KANARI_FUZZ_SEED;
  const seed = fromEnv === 'random' ? (Math.random() * 2 ** 32) >>> 0 : fromEnv ? Number(fromEnv) >>> 0 : DEFAULT_SEED;
  console.log(`# ${name}: seed ${seed} (replay with KANARI_FUZZ_SEED=${seed}; one case with KANARI_FUZZ_CASE=<n>)`);
  return seed;
}

/** The case indexes to run: all `count`, or only KANARI_FUZZ_CASE. */
export function fuzzCases(count: number): number[] {
  const only = process.env.KANARI_FUZZ_CASE;
  return only ? only.split(',').map(Number) : Array.from({ length: count }, (_, i) => i);
}

/** Bytes for a failure report: escaped, and cut in the middle when long. */
export function showBytes(s: string, max = 400): string {
  const shown = s.length > max ? `${s.slice(0, max / 2)}…(${s.length - max} bytes)…${s.slice(-max / 2)}` : s;
  return JSON.stringify(shown).replace(/\\u00([0-9a-f]{2})/g, '\\x$1');
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
