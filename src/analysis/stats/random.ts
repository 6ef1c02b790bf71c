/**
 * Seeded samplers for the simulator: Poisson by inversion (λ < 30) or Hörmann's PTRS
 * transformed rejection (exact, O(1)), binomial by waiting times when few successes are
 * expected and a normal approximation otherwise, normal by Box–Muller.
 */
import { lnGamma, normalQuantile } from './special.js';
import { seededRandom } from './describe.js';

/**
 * Spread evenly rather than drawn: the n-th (from 0) of a stream of requests, failing at
 * `rate` with its failures evenly spaced, and a standard normal from the golden-ratio
 * sequence, whose first n points cover (0, 1) within O(log n / n). Two versions served
 * this way differ only where they were told to, so an A/A comparison of them cannot fail
 * by the luck of the draws (the demo's apps, and the tests' stand-ins for a mesh's metrics).
 */
export const even = {
  fails: (n: number, rate: number): boolean => Math.floor((n + 1) * rate) > Math.floor(n * rate),
  normal: (n: number): number => normalQuantile(((n + 1) * GOLDEN) % 1),
};
const GOLDEN = (Math.sqrt(5) - 1) / 2;

export class Random {
  private readonly next: () => number;
  private spare: number | undefined;

  constructor(seed: number) {
    this.next = seededRandom(seed);
  }

  /** Uniform on (0, 1). */
  uniform(): number {
    let u = this.next();
    while (u === 0) u = this.next();
    return u;
  }

  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const theta = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  poisson(lambda: number): number {
    if (lambda <= 0) return 0;
    if (lambda < 30) {
      let k = 0;
      let p = Math.exp(-lambda);
      let cdf = p;
      const u = this.uniform();
      while (u > cdf && k < 1000) {
        k++;
        p *= lambda / k;
        cdf += p;
      }
      return k;
    }
    // PTRS (Hörmann 1993).
    const slam = Math.sqrt(lambda);
    const loglam = Math.log(lambda);
    const b = 0.931 + 2.53 * slam;
    const a = -0.059 + 0.02483 * b;
    const invalpha = 1.1239 + 1.1328 / (b - 3.4);
    const vr = 0.9277 - 3.6224 / (b - 2);
    while (true) {
      const u = this.uniform() - 0.5;
      const v = this.uniform();
      const us = 0.5 - Math.abs(u);
      const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
      if (us >= 0.07 && v <= vr) return k;
      if (k < 0 || (us < 0.013 && v > us)) continue;
      if (Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= -lambda + k * loglam - lnGamma(k + 1))
        return k;
    }
  }

  binomial(n: number, p: number): number {
    if (n <= 0 || p <= 0) return 0;
    if (p >= 1) return n;
    if (p > 0.5) return n - this.binomial(n, 1 - p);
    if (n * p < 30) {
      // Count geometric waiting times until they pass n: O(np) draws.
      const logq = Math.log1p(-p);
      let k = 0;
      let position = 0;
      while (true) {
        position += Math.floor(Math.log(this.uniform()) / logq) + 1;
        if (position > n) return k;
        k++;
      }
    }
    const x = Math.round(n * p + Math.sqrt(n * p * (1 - p)) * this.normal());
    return Math.min(n, Math.max(0, x));
  }
}
