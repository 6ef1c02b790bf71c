/**
 * Upper tails the series judge reads its p-values from: Student's t (through the
 * regularized incomplete beta) and the binomial (summed exactly in log space).
 */
import { lnGamma, logAddExp, logBetaInc } from './special.js';

/** P(T > t) for Student's t with `df` degrees of freedom (df may be fractional). */
export function studentUpper(t: number, df: number): number {
  if (Number.isNaN(t)) return NaN;
  if (t === Infinity) return 0;
  if (t === -Infinity) return 1;
  const half = 0.5 * Math.exp(logBetaInc(df / (df + t * t), df / 2, 0.5));
  return t >= 0 ? half : 1 - half;
}

/** The t quantile q with P(T > q) = p, by bisection on the tail (p in (0, 0.5]). */
export function studentQuantileUpper(p: number, df: number): number {
  let lo = 0;
  let hi = 1;
  while (studentUpper(hi, df) > p) hi *= 2;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (studentUpper(mid, df) > p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** P(X ≥ k) for X ~ Binomial(n, p). */
export function binomialUpper(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  const lnChoose = (i: number) => lnGamma(n + 1) - lnGamma(i + 1) - lnGamma(n - i + 1);
  let total = -Infinity;
  for (let i = k; i <= n; i++) total = logAddExp(total, lnChoose(i) + i * Math.log(p) + (n - i) * Math.log1p(-p));
  return Math.min(1, Math.exp(total));
}
