/**
 * Kayenta's metric classifier (MannWhitneyClassifier + the judge's cleaning), a pure
 * function of the two samples and the metric's settings. Labels and their quirks follow
 * Kayenta's MannWhitneyClassifier.scala and NetflixACAJudge.scala exactly: e.g. a critical
 * metric's High below `criticalIncrease` is an ordinary High, and a NaN effect size skips
 * the effect-size gate.
 */
import { seededRandom, summarize, type Summary } from '../../stats/describe.js';
import { cleanSeries } from './clean.js';
import type { Direction, KayentaMetricSettings } from '../../../config/schemas/kayenta.js';
import { cles, meanRatio } from './effect.js';
import { mannWhitneyInterval, type MannWhitneyResult } from './mannwhitney.js';

export type Classification = 'Pass' | 'High' | 'Low' | 'Nodata' | 'NodataFailMetric' | 'Error';

/** What NetflixACAJudge-v1.0 hard-codes; the classifier's own defaults (conf 0.95) apply only in Kayenta's tests. */
export const JUDGE_PARAMS = { tolerance: 0.25, confLevel: 0.98 } as const;

export interface MetricClassification {
  classification: Classification;
  critical: boolean;
  /** mean(canary)/mean(baseline), reported as Kayenta's `resultMetadata.ratio`. */
  deviation: number;
  reason?: string;
  interval?: MannWhitneyResult;
  effectSize?: number;
  toleranceBound?: number;
  experiment: Summary;
  control: Summary;
}

export function classifyMetric(
  name: string,
  control: readonly number[],
  experiment: readonly number[],
  settings: KayentaMetricSettings,
  params: { tolerance: number; confLevel: number } = JUDGE_PARAMS,
): MetricClassification {
  const cleaning = {
    nanStrategy: settings.nanStrategy,
    outliers: settings.outliers.strategy,
    outlierFactor: settings.outliers.outlierFactor,
  };
  const y = cleanSeries(control, cleaning);
  const x = cleanSeries(experiment, cleaning);
  const stats = { experiment: summarize(x), control: summarize(y) };
  const pass = (reason?: string): MetricClassification => ({
    classification: 'Pass',
    critical: false,
    deviation: 1,
    ...(reason ? { reason } : {}),
    ...stats,
  });

  if (x.length === 0 || y.length === 0) {
    if (settings.nanStrategy === 'replace') return pass();
    const reason = `Missing data for ${name}`;
    if (settings.mustHaveData && !settings.critical)
      return { classification: 'NodataFailMetric', critical: false, deviation: 1, reason, ...stats };
    return { classification: 'Nodata', critical: settings.critical, deviation: 1, reason, ...stats };
  }
  const sortedX = [...x].sort((a, b) => a - b);
  const sortedY = [...y].sort((a, b) => a - b);
  if (sortedX.length === sortedY.length && sortedX.every((v, i) => v === sortedY[i]))
    return pass('The Canary and Baseline data are identical');
  if (new Set([...x, ...y]).size === 1) return pass();

  try {
    let [xs, ys] = [x, y];
    if (new Set(x).size === 1 && new Set(y).size === 1) [xs, ys] = [jitter(x), jitter(y)];
    const interval = mannWhitneyInterval(xs, ys, params.confLevel);
    const deviation = meanRatio(ys, xs);
    const es = settings.effectSize;
    const effect = es.measure === 'cles' ? cles(ys, xs) : deviation;
    const bound = params.tolerance * Math.abs(interval.estimate);
    const mayIncrease = settings.direction !== 'decrease';
    const mayDecrease = settings.direction !== 'increase';
    const isHigh = mayIncrease && interval.lower > bound && (Number.isNaN(effect) || effect >= es.allowedIncrease);
    const isLow = mayDecrease && interval.upper < -bound && (Number.isNaN(effect) || effect <= es.allowedDecrease);
    const classification: Classification = isHigh ? 'High' : isLow ? 'Low' : 'Pass';
    const critical =
      settings.critical &&
      ((isHigh && (Number.isNaN(effect) || effect >= es.criticalIncrease)) ||
        (!isHigh && isLow && (Number.isNaN(effect) || effect <= es.criticalDecrease)));
    const reason =
      classification === 'Pass'
        ? undefined
        : critical
          ? `The metric ${name} was classified as ${classification} (Critical)`
          : `${name} was classified as ${classification}`;
    return {
      classification,
      critical,
      deviation,
      ...(reason ? { reason } : {}),
      interval,
      effectSize: effect,
      toleranceBound: bound,
      ...stats,
    };
  } catch {
    return {
      classification: 'Error',
      critical: false,
      deviation: NaN,
      reason: 'Metric Classification Failed',
      ...stats,
    };
  }
}

/**
 * Both samples constant but different: Kayenta adds Normal(0, value·1e-5) noise from an
 * unseeded RNG; kanari seeds it so a judgement can be replayed.
 */
function jitter(values: readonly number[]): number[] {
  const sd = values[0]! * 1e-5;
  const random = seededRandom(0x6b616e61);
  return values.map((v) => v + sd * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()));
}

/** Kayenta's MeanInequalityClassifier: compares means only (kept for its test cases and as a crude option). */
export function classifyByMean(
  control: readonly number[],
  experiment: readonly number[],
  direction: Direction = 'either',
): 'Pass' | 'High' | 'Low' {
  const c = summarize(control).mean;
  const e = summarize(experiment).mean;
  if (e > c && direction !== 'decrease') return 'High';
  if (e < c && direction !== 'increase') return 'Low';
  return 'Pass';
}
