/**
 * Kayenta's Mann-Whitney confidence interval (kayenta-mannwhitney): R's
 * `wilcox.test(x, y, conf.int = TRUE, exact = FALSE, correct = TRUE)`, found with
 * Kayenta's own Brent solver. Ported step for step, including the 1e-4 *absolute*
 * solver tolerance, because on small-magnitude metrics Kayenta's labels depend on where
 * that solver happens to stop (MannWhitneySuite's "Intermediate Values" test asserts a lower
 * bound above the upper one: test/fixtures/kayenta, case MW07).
 */
import { averageRanks } from '../../stats/describe.js';
import { normalQuantile } from '../../stats/special.js';

/**
 * Φ⁻¹((1 − conf)/2) exactly as commons-math3 3.6.1 computes it for the two levels
 * Kayenta uses; R and AS241 differ from these in the last 1–2 ulps.
 */
const COMMONS_MATH_Z: ReadonlyMap<number, number> = new Map([
  [0.95, -1.959963984540054],
  [0.98, -2.326347874040841],
]);

export function lowerZ(confLevel: number): number {
  return COMMONS_MATH_Z.get(confLevel) ?? normalQuantile((1 - confLevel) / 2);
}

/** The continuity-corrected standardised rank-sum of x − mu against y, minus `quantile`. */
export function wilcoxonDiff(mu: number, quantile: number, x: readonly number[], y: readonly number[]): number {
  const nx = x.length;
  const ny = y.length;
  const combined = new Array<number>(nx + ny);
  for (let i = 0; i < nx; i++) combined[i] = x[i]! - mu;
  for (let j = 0; j < ny; j++) combined[nx + j] = y[j]!;
  const { ranks, ties } = averageRanks(combined);
  let w = 0;
  for (let i = 0; i < nx; i++) w += ranks[i]!;
  const dz = w - (nx * (nx + 1)) / 2 - (nx * ny) / 2;
  const correction = 0.5 * Math.sign(dz);
  const n = nx + ny;
  const sigma = Math.sqrt(((nx * ny) / 12) * (n + 1 - ties / (n * (n - 1))));
  if (sigma === 0) throw new Error('cannot compute confidence interval when all observations are tied');
  return (dz - correction) / sigma - quantile;
}

const TOLERANCE = 1e-4;
const EPSILON = 2.220446049250313e-16;

/** commons-math `Precision.equals(v, 0)`: within one ulp of zero. */
function isZero(v: number): boolean {
  return Math.abs(v) <= Number.MIN_VALUE;
}

/** Kayenta's BrentSolver (Brent–Dekker zeroin as in R's uniroot), with its absolute tolerance of 1e-4. */
export function brentSolve(
  lower: number,
  upper: number,
  fLower: number,
  fUpper: number,
  f: (x: number) => number,
): number {
  let a = lower;
  let b = upper;
  let fa = fLower;
  let fb = fUpper;
  let c = a;
  let fc = fa;
  if (isZero(fa)) return a;
  if (isZero(fb)) return b;
  for (let iteration = 0; iteration <= 1000; iteration++) {
    const previous = b - a;
    if (Math.abs(fc) < Math.abs(fb)) {
      [a, b, c] = [b, c, b];
      [fa, fb, fc] = [fb, fc, fb];
    }
    const tolerance = 2 * EPSILON * Math.abs(b) + TOLERANCE / 2;
    let step = (c - b) / 2;
    if (Math.abs(step) <= tolerance || isZero(fb)) return b;
    if (Math.abs(previous) >= tolerance && Math.abs(fa) > Math.abs(fb)) {
      const cb = c - b;
      let p: number;
      let q: number;
      if (a === c) {
        const t1 = fb / fa;
        p = cb * t1;
        q = 1 - t1;
      } else {
        q = fa / fc;
        const t1 = fb / fc;
        const t2 = fb / fa;
        p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1));
        q = (q - 1) * (t1 - 1) * (t2 - 1);
      }
      if (p > 0) q = -q;
      else p = -p;
      if (p < 0.75 * cb * q - Math.abs(tolerance * q) / 2 && p < Math.abs((previous * q) / 2)) step = p / q;
    }
    if (Math.abs(step) < tolerance) step = step > 0 ? tolerance : -tolerance;
    a = b;
    fa = fb;
    b += step;
    fb = f(b);
    if ((fb > 0 && fc > 0) || (fb < 0 && fc < 0)) {
      c = a;
      fc = fa;
    }
  }
  return b;
}

export interface MannWhitneyResult {
  lower: number;
  upper: number;
  /** Where the statistic crosses zero: close to, but not computed as, the Hodges–Lehmann median. */
  estimate: number;
}

/** The confidence interval and location estimate for the shift of x (experiment) over y (control). */
export function mannWhitneyInterval(x: readonly number[], y: readonly number[], confLevel: number): MannWhitneyResult {
  const z = lowerZ(confLevel);
  const muMin = extreme(x, Math.min) - extreme(y, Math.max);
  const muMax = extreme(x, Math.max) - extreme(y, Math.min);
  const f = (quantile: number) => (mu: number) => wilcoxonDiff(mu, quantile, x, y);
  const root = (quantile: number): number => {
    const fLower = f(quantile)(muMin);
    const fUpper = f(quantile)(muMax);
    if (fLower <= 0) return muMin;
    if (fUpper >= 0) return muMax;
    return brentSolve(muMin, muMax, fLower, fUpper, f(quantile));
  };
  const estimate = brentSolve(muMin, muMax, f(0)(muMin), f(0)(muMax), f(0));
  return { lower: root(-z), upper: root(z), estimate };
}

/** Math.min/max over an array too long to spread into arguments. */
function extreme(values: readonly number[], pick: (a: number, b: number) => number): number {
  let out = values[0]!;
  for (const v of values) out = pick(out, v);
  return out;
}
