/**
 * The closed-form e-values of the Netflix / Lindon–Malek count test (NeurIPS 2022,
 * arXiv 2011.03567), for a fixed allocation. kanari's live test (ratio-mixture.ts)
 * generalises them to a share that changes between steps; these forms anchor it to the
 * published reference values.
 */
import { lnBeta, lnGamma, logBetaIncUpper } from '../../stats/special.js';

/** ln B(a) = Σ ln Γ(a_i) − ln Γ(Σ a_i), the multivariate beta. */
function lnMultiBeta(a: readonly number[]): number {
  let sum = 0;
  let total = 0;
  for (const v of a) {
    sum += lnGamma(v);
    total += v;
  }
  return sum - lnGamma(total);
}

/**
 * ln of the Dirichlet-multinomial Bayes factor against θ = θ0, prior Dirichlet(k·θ0):
 * ln B(kθ0 + x) − ln B(kθ0) − Σ x_i ln θ0_i. Two-sided; the SRM test of `ssrm`/`savvi`.
 */
export function dirichletLogBayesFactor(counts: readonly number[], theta0: readonly number[], k: number): number {
  const prior = theta0.map((t) => k * t);
  const posterior = prior.map((a, i) => a + counts[i]!);
  let null_ = 0;
  for (const [i, x] of counts.entries()) if (x > 0) null_ += x * Math.log(theta0[i]!);
  return lnMultiBeta(posterior) - lnMultiBeta(prior) - null_;
}

/** The always-valid p-value for a Bayes factor path: the running minimum of min(1, 1/BF). */
export function sequentialPValue(previous: number, logBayesFactor: number): number {
  return Math.min(previous, Math.min(1, Math.exp(-logBayesFactor)));
}

/**
 * ln of the one-sided e-value for "the canary gets more than its share θ0 of events":
 * a Beta(kθ0, k(1−θ0)) prior truncated to θ > θ0, against the null θ = θ0.
 */
export function oneSidedBetaLogE(canaryEvents: number, totalEvents: number, theta0: number, k: number): number {
  const y = canaryEvents;
  const m = totalEvents - canaryEvents;
  const a = k * theta0;
  const b = k * (1 - theta0);
  const numerator = lnBeta(a + y, b + m) + logBetaIncUpper(theta0, a + y, b + m);
  const denominator = lnBeta(a, b) + logBetaIncUpper(theta0, a, b);
  return numerator - denominator - (y > 0 ? y * Math.log(theta0) : 0) - (m > 0 ? m * Math.log1p(-theta0) : 0);
}
