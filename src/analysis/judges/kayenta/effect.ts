/** Kayenta's effect sizes (EffectSizes.scala). */
import { averageRanks, mean } from '../../stats/describe.js';

/** mean(experiment) / mean(control); NaN when either mean is exactly 0. */
export function meanRatio(control: readonly number[], experiment: readonly number[]): number {
  const c = mean(control);
  const e = mean(experiment);
  return c === 0 || e === 0 ? NaN : e / c;
}

/** Common-language effect size: P(experiment > control) + ½·P(tie). 0.5 is no effect. */
export function cles(control: readonly number[], experiment: readonly number[]): number {
  const m = experiment.length;
  const n = control.length;
  const { ranks } = averageRanks([...experiment, ...control]);
  let r1 = 0;
  for (let i = 0; i < m; i++) r1 += ranks[i]!;
  return (2 * r1 - m * (m + 1)) / (2 * n * m);
}

/** |mean difference| / pooled sample standard deviation. */
export function cohenD(control: readonly number[], experiment: readonly number[]): number {
  const variance = (xs: readonly number[], m: number) => xs.reduce((s, v) => s + (v - m) ** 2, 0) / (xs.length - 1);
  const mc = mean(control);
  const me = mean(experiment);
  const nc = control.length;
  const ne = experiment.length;
  const pooled = ((ne - 1) * variance(experiment, me) + (nc - 1) * variance(control, mc)) / (nc + ne - 2);
  return Math.abs(me - mc) / Math.sqrt(pooled);
}
