/**
 * How noisy a series is (the judge passes the paired differences), allowing for
 * autocorrelation. Points a step apart are not independent (AR(1) up to φ = 0.9 in
 * practice), so the variance of a mean of n points is σ²·f/n with f = 1 + 2 Σ (1 − k/n) φ^k, not σ²/n. φ is estimated from the
 * series with Kendall's bias correction and then raised to an upper confidence bound,
 * because on a few points the estimate is both low and noisy; the sample variance is
 * corrected for the same autocorrelation (E s² = σ²(n − f)/(n − 1)).
 */
import { normalQuantile } from '../../stats/special.js';

export interface Noise {
  /** Points in the series. */
  n: number;
  mean: number;
  /** The lag-1 autocorrelation used: the bias-corrected estimate raised to its upper bound. */
  phi: number;
  /** The variance of one point, corrected for autocorrelation. */
  variance: number;
  /** Var(mean of n points) = variance · factor / n. */
  factor: number;
  /** Degrees of freedom for the t reference: the effective sample size n/f, less one. */
  df: number;
}

/** The largest φ assumed: beyond it a series of this length says nothing about its own level. */
const MAX_PHI = 0.98;
/** One-sided confidence for the upper bound on φ. */
const PHI_CONFIDENCE = 0.9;

export function ar1Factor(phi: number, n: number): number {
  let f = 1;
  let power = 1;
  for (let k = 1; k < n; k++) {
    power *= phi;
    f += 2 * (1 - k / n) * power;
  }
  return f;
}

/** The noise of `y`; `flat` when it never moves (no variance to scale a difference by), `tooCorrelated` when n − f < 2. */
export function estimateNoise(y: readonly number[]): Noise | 'flat' | 'tooCorrelated' {
  const n = y.length;
  const mean = y.reduce((a, b) => a + b, 0) / n;
  let ss = 0;
  let lag = 0;
  for (let i = 0; i < n; i++) {
    const e = y[i]! - mean;
    ss += e * e;
    if (i + 1 < n) lag += e * (y[i + 1]! - mean);
  }
  if (ss <= 1e-12 * Math.max(1, mean * mean) * n) return 'flat';
  const r = lag / ss;
  const corrected = Math.min(0.99, Math.max(-0.99, r + (1 + 3 * r) / n));
  const upper = corrected + normalQuantile(PHI_CONFIDENCE) * Math.sqrt((1 - corrected * corrected) / n);
  const phi = Math.min(MAX_PHI, Math.max(0, upper));
  const factor = ar1Factor(phi, n);
  if (n - factor < 2) return 'tooCorrelated';
  const variance = ss / (n - factor);
  return { n, mean, phi, variance, factor, df: Math.max(1, n / factor - 1) };
}
