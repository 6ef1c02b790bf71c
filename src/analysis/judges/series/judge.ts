/**
 * The kanari series judge: canary against control, point by point on one step grid.
 * Pure: two series and the metric's settings in, a verdict with its confidence out.
 *
 * - The level test: the mean of the paired differences d = canary − control against
 *   their own noise, autocorrelation allowed for (`noise.ts`). Pairing by time cancels
 *   what both sides share (load, the hour); taking the noise of d itself, not of either
 *   side, stays valid when the canary is noisier (a smaller canary's rates are). Fails
 *   when the mean exceeds `tolerance` at the metric's α; passes only when it is shown
 *   below the margin (a non-inferiority test).
 * - When control never moves (0 errors every step, a constant), or the difference never
 *   does, there is no noise to scale by, and the judge counts steps instead: an exact sign
 *   test of the steps where the canary is worse against those where it is better. Seven
 *   of seven on one side is p = 1/128.
 * Anything else — too few points, too much autocorrelation, an interval too wide — is
 * Inconclusive, never a pass by default.
 */
import { binomialUpper, studentQuantileUpper, studentUpper } from '../../stats/tails.js';
import { estimateNoise } from './noise.js';

export type Worse = 'increase' | 'decrease' | 'either';
export type SeriesVerdict = 'Pass' | 'Fail' | 'Inconclusive';

export interface SeriesMetricSettings {
  worse: Worse;
  /** A difference (canary − control, in the metric's units) that does not matter. */
  tolerance?: number;
  /** What a missing point (NaN) is: dropped with its pair, or zero (a count with no events). */
  missing: 'skip' | 'zero';
  /** Fewer pairs than this is Inconclusive. */
  minPoints: number;
  /**
   * The lowest and highest share of canary + control traffic the canary had in a step, when
   * known. Sparse events land on the side with more traffic: under "no worse" a step with
   * events on the canary's side only comes with chance about its share, not ½, so the step
   * test holds each side to the larger of ½ and its share.
   */
  canaryShares?: [number, number];
}

export interface SeriesMetricResult {
  verdict: SeriesVerdict;
  /** One sentence, with the confidence behind the verdict. */
  reason: string;
  test: 'level' | 'steps' | 'none';
  points: number;
  canaryMean?: number;
  controlMean?: number;
  /** p-value of "no worse" (the smaller side's, doubled, for `either`). */
  p?: number;
  /** The confidence interval of the mean difference (canary − control) at the metric's α. */
  interval?: [number, number];
  /** For the level test: the autocorrelation and degrees of freedom used. */
  phi?: number;
  df?: number;
  /** For the step test: steps worse and better. */
  worseSteps?: number;
  betterSteps?: number;
}

/** One look of an analysis run: every metric judged on the series up to `end` (ms). */
export interface SeriesLook {
  end: number;
  metrics: (SeriesMetricResult & { name: string })[];
}

/** Relative margin for a pass when no tolerance is set: within 10% of control's mean. */
export const DEFAULT_RELATIVE_MARGIN = 0.1;

export function judgeSeries(
  canary: readonly number[],
  control: readonly number[],
  settings: SeriesMetricSettings,
  alpha: number,
): SeriesMetricResult {
  const [x, y] = paired(canary, control, settings.missing);
  const points = x.length;
  if (points < settings.minPoints)
    return {
      verdict: 'Inconclusive',
      test: 'none',
      points,
      reason: `${points} paired point(s), fewer than the ${settings.minPoints} needed to judge`,
    };
  const means = { canaryMean: avg(x), controlMean: avg(y) };
  const d = x.map((v, i) => v - y[i]!);
  const noise = estimateNoise(d);
  if (noise === 'flat' || estimateNoise(y) === 'flat') return { ...stepTest(d, settings, alpha), ...means, points };
  if (noise === 'tooCorrelated')
    return {
      verdict: 'Inconclusive',
      test: 'none',
      points,
      ...means,
      reason: `the ${points} differences are too autocorrelated to estimate their noise; more points are needed`,
    };
  const diff = avg(d);
  const se = Math.sqrt((noise.variance * noise.factor) / points);
  const tol = settings.tolerance ?? 0;
  const margin = settings.tolerance ?? DEFAULT_RELATIVE_MARGIN * Math.abs(means.controlMean);
  const sides = settings.worse === 'either' ? 2 : 1;
  const q = studentQuantileUpper(alpha / sides, noise.df);
  const interval: [number, number] = [diff - q * se, diff + q * se];
  // p of "no worse than tolerance", for the direction that is worse.
  const up = studentUpper((diff - tol) / se, noise.df);
  const down = studentUpper((-diff - tol) / se, noise.df);
  const p =
    settings.worse === 'increase' ? up : settings.worse === 'decrease' ? down : Math.min(1, 2 * Math.min(up, down));
  const base = { test: 'level' as const, points, ...means, p, interval, phi: noise.phi, df: noise.df };
  const confidence = `${pct(1 - p)} confidence (p = ${num(p)} ≤ α = ${num(alpha)})`;
  const shown = `difference ${num(diff)}, ${pct(1 - alpha)} interval ${num(interval[0])} to ${num(interval[1])}`;
  if (p <= alpha) return { ...base, verdict: 'Fail', reason: `the canary is worse with ${confidence}: ${shown}` };
  const within =
    settings.worse === 'increase'
      ? interval[1] <= margin
      : settings.worse === 'decrease'
        ? interval[0] >= -margin
        : interval[0] >= -margin && interval[1] <= margin;
  if (within)
    return {
      ...base,
      verdict: 'Pass',
      reason: `no worse than control by more than ${num(margin)} with ${pct(1 - alpha / sides)} confidence: ${shown}`,
    };
  return {
    ...base,
    verdict: 'Inconclusive',
    reason: `the data cannot tell (p = ${num(p)}; ${shown}, wider than the margin ${num(margin)})`,
  };
}

/** Control never moved: count the steps each way beyond the tolerance and test them exactly (sign test). */
function stepTest(d: readonly number[], settings: SeriesMetricSettings, alpha: number): SeriesMetricResult {
  const tol = settings.tolerance ?? 0;
  const above = d.filter((v) => v > tol).length;
  const below = d.filter((v) => v < -tol).length;
  const [worseSteps, betterSteps] = settings.worse === 'decrease' ? [below, above] : [above, below];
  const n = above + below;
  // The chance under "no worse" that a step differing is the canary's higher (or lower) one.
  const [low, high] = settings.canaryShares ?? [0.5, 0.5];
  const pHigher = binomialUpper(above, n, Math.min(0.99, Math.max(0.5, high)));
  const pLower = binomialUpper(below, n, Math.min(0.99, Math.max(0.5, 1 - low)));
  const p =
    settings.worse === 'either'
      ? Math.min(1, 2 * Math.min(pHigher, pLower))
      : settings.worse === 'increase'
        ? pHigher
        : pLower;
  const base = { test: 'steps' as const, p, worseSteps, betterSteps };
  const counted = `no noise to scale by; the canary was worse on ${worseSteps} step(s) and better on ${betterSteps}`;
  if (p <= alpha)
    return {
      ...base,
      points: d.length,
      verdict: 'Fail',
      reason: `${counted}: worse with ${pct(1 - p)} confidence (exact sign test, p = ${num(p)} ≤ α = ${num(alpha)})`,
    };
  if (n === 0) return { ...base, points: d.length, verdict: 'Pass', reason: `both sides were equal at every step` };
  return { ...base, points: d.length, verdict: 'Inconclusive', reason: `${counted}; too few to tell (p = ${num(p)})` };
}

function paired(canary: readonly number[], control: readonly number[], missing: 'skip' | 'zero'): [number[], number[]] {
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < Math.min(canary.length, control.length); i++) {
    let [a, b] = [canary[i]!, control[i]!];
    if (missing === 'zero') [a, b] = [Number.isNaN(a) ? 0 : a, Number.isNaN(b) ? 0 : b];
    if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
    x.push(a);
    y.push(b);
  }
  return [x, y];
}

function avg(v: readonly number[]): number {
  return v.reduce((a, b) => a + b, 0) / v.length;
}

/** A confidence, floored so it never overstates; past 99.9% the p-value carries the rest. */
function pct(p: number): string {
  return p > 0.999 ? 'more than 99.9%' : `${(Math.floor(p * 1000) / 10).toFixed(1)}%`;
}

function num(x: number): string {
  return Number.isInteger(x) ? String(x) : Math.abs(x) >= 0.01 && Math.abs(x) < 1e4 ? x.toFixed(3) : x.toExponential(2);
}
