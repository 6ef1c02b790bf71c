/**
 * Synthetic metric series for the series judge: AR(1) noise, x_t = μ + φ(x_{t−1} − μ) + e_t,
 * started from its stationary distribution, so canary and control are two runs of one
 * process (A/A) or the canary's level is shifted. Seeded, so a measurement replays.
 */
import { Random } from '../analysis/stats/random.js';
import { judgeSeries, type SeriesMetricSettings, type SeriesVerdict } from '../analysis/judges/series/judge.js';

/** n points of a stationary AR(1) with mean `mean`, marginal standard deviation `sd` and lag-1 correlation `phi`. */
export function ar1Series(random: Random, n: number, phi: number, mean = 0, sd = 1): number[] {
  const innovation = sd * Math.sqrt(1 - phi * phi);
  const out: number[] = [];
  let e = sd * random.normal();
  for (let i = 0; i < n; i++) {
    if (i > 0) e = phi * e + innovation * random.normal();
    out.push(mean + e);
  }
  return out;
}

export interface SeriesTrial {
  points: number;
  phi: number;
  /** The canary's level shift, in control's standard deviations (0: A/A). */
  shift: number;
  /** The canary's noise relative to control's (a smaller canary's rates are noisier); default 1. */
  canaryNoise?: number;
  pairs: number;
  seed: number;
  alpha: number;
}

/** How often the judge fails, passes and cannot tell over `pairs` seeded canary/control pairs. */
export function seriesRates(
  trial: SeriesTrial,
  settings: Partial<SeriesMetricSettings> = {},
): Record<SeriesVerdict, number> {
  const random = new Random(trial.seed);
  const counts: Record<SeriesVerdict, number> = { Pass: 0, Fail: 0, Inconclusive: 0 };
  const full: SeriesMetricSettings = { worse: 'increase', missing: 'skip', minPoints: 10, tolerance: 0.5, ...settings };
  for (let i = 0; i < trial.pairs; i++) {
    const control = ar1Series(random, trial.points, trial.phi);
    const canary = ar1Series(random, trial.points, trial.phi, trial.shift, trial.canaryNoise ?? 1);
    counts[judgeSeries(canary, control, full, trial.alpha).verdict]++;
  }
  for (const k of Object.keys(counts) as SeriesVerdict[]) counts[k] /= trial.pairs;
  return counts;
}
