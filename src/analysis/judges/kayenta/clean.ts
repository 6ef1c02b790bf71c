/** Kayenta's data cleaning: NaN handling, then (optionally) outlier removal, per side. */
import { mean, percentileR7 } from '../../stats/describe.js';

import type { NanStrategy } from '../../../config/schemas/kayenta.js';

export function handleNaNs(values: readonly number[], strategy: NanStrategy): number[] {
  return strategy === 'remove' ? values.filter((v) => !Number.isNaN(v)) : values.map((v) => (Number.isNaN(v) ? 0 : v));
}

/**
 * Tukey fences (IQR × factor, R-7 quartiles). With `reduceSensitivity` — what the judge
 * uses — the fences are widened to at least the 1st and 99th percentiles.
 */
export function iqrOutliers(values: readonly number[], factor = 1.5, reduceSensitivity = false): boolean[] {
  if (values.length === 0) return [];
  const q1 = percentileR7(values, 25);
  const q3 = percentileR7(values, 75);
  const iqr = q3 - q1;
  let lower = q1 - factor * iqr;
  let upper = q3 + factor * iqr;
  if (reduceSensitivity) {
    lower = Math.min(percentileR7(values, 1), lower);
    upper = Math.max(percentileR7(values, 99), upper);
  }
  return values.map((v) => v > upper || v < lower);
}

/** |x − mean| > k·σ (population σ). Kayenta ships it but its judge never uses it. */
export function kSigmaOutliers(values: readonly number[], k = 3): boolean[] {
  if (values.length === 0) return [];
  const m = mean(values);
  const sigma = Math.sqrt(values.reduce((s, v) => s + (v - m) ** 2, 0) / values.length);
  return values.map((v) => Math.abs(v - m) > k * sigma);
}

export function removeFlagged(values: readonly number[], flags: readonly boolean[]): number[] {
  return values.filter((_, i) => !flags[i]);
}

export interface CleaningSettings {
  nanStrategy: NanStrategy;
  outliers: 'keep' | 'remove';
  outlierFactor: number;
}

export function cleanSeries(values: readonly number[], settings: CleaningSettings): number[] {
  const finite = handleNaNs(values, settings.nanStrategy);
  if (settings.outliers === 'keep') return finite;
  return removeFlagged(finite, iqrOutliers(finite, settings.outlierFactor, true));
}
