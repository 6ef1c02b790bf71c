/**
 * Kayenta's scoring (WeightedSumScorer + ThresholdScoreClassifier) and the Spinnaker
 * multi-interval rule, with their quirks kept (Kayenta's WeightedSumScorer.scala): a group
 * with only Nodata counts as 100, Error results are ignored, weights are not renormalised.
 */
import type { Classification } from './classify.js';

export interface ScoredResult {
  name: string;
  classification: Classification;
  groups: readonly string[];
  critical: boolean;
  muted: boolean;
  reason?: string;
}

export interface GroupScore {
  name: string;
  score: number;
  noData: boolean;
}

export interface Score {
  score: number;
  groups: GroupScore[];
  /** Why the score was forced to 0, when it was. */
  reason?: string;
}

export interface ScoreThresholds {
  pass: number;
  marginal: number;
}

export function weightedSumScore(
  results: readonly ScoredResult[],
  groupWeights: Readonly<Record<string, number>>,
): Score {
  const scored = results.filter((r) => !r.muted);
  const buckets = new Map<string, Classification[]>();
  for (const r of scored) for (const g of r.groups) buckets.set(g, [...(buckets.get(g) ?? []), r.classification]);
  const groups: GroupScore[] = [...buckets].map(([name, labels]) => {
    const counted = labels.filter((l) => l === 'Pass' || l === 'High' || l === 'Low' || l === 'NodataFailMetric');
    const noData = counted.length === 0;
    return { name, noData, score: noData ? 0 : (100 * counted.filter((l) => l === 'Pass').length) / counted.length };
  });

  const criticalFailure = scored.find((r) => r.critical && r.classification !== 'Pass');
  if (criticalFailure)
    return { score: 0, groups, reason: `Canary Failed: ${criticalFailure.reason ?? criticalFailure.name}` };
  const nodata = scored.filter((r) => r.classification === 'Nodata').length;
  if ((100 * nodata) / scored.length >= 50)
    return { score: 0, groups, reason: 'Canary Failed: 50% or more metrics returned NODATA' };

  const configured = Object.values(groupWeights).reduce((s, w) => s + w, 0);
  const unweighted = groups.filter((g) => !(g.name in groupWeights));
  const fallback = unweighted.length > 0 ? (100 - configured) / unweighted.length : 0;
  let sum = 0;
  for (const g of groups) sum += ((g.noData ? 100 : g.score) * (groupWeights[g.name] ?? fallback)) / 100;
  return { score: roundHalfUp(sum, 2), groups };
}

export function classifyScore(score: number, thresholds: ScoreThresholds): 'Pass' | 'Marginal' | 'Fail' {
  return score >= thresholds.pass ? 'Pass' : score >= thresholds.marginal ? 'Marginal' : 'Fail';
}

/**
 * Spinnaker's verdict over interval scores: every interval must score above `marginal`
 * (checked as each finishes — a fail-fast), and the last must reach `pass`.
 */
export function aggregateIntervals(
  scores: readonly number[],
  thresholds: Partial<ScoreThresholds>,
): { passed: boolean; reason: string } {
  const { pass, marginal } = thresholds;
  for (const [i, s] of scores.entries()) {
    if (marginal !== undefined && s <= marginal) {
      const which = i === scores.length - 1 ? 'Final canary score' : `Canary score of interval ${i + 1}`;
      return { passed: false, reason: `${which} ${s} is not above the marginal score threshold.` };
    }
  }
  const last = scores.at(-1);
  if (last === undefined) return { passed: false, reason: 'No interval was judged.' };
  if (pass === undefined)
    return { passed: true, reason: `Final canary score ${last} is above the marginal score threshold.` };
  if (last < pass) return { passed: false, reason: `Final canary score ${last} is below the pass score threshold.` };
  return { passed: true, reason: `Final canary score ${last} met or exceeded the pass score threshold.` };
}

/** commons-math `Precision.round(x, places)`: HALF_UP on the shortest decimal text of x. */
export function roundHalfUp(x: number, places: number): number {
  if (!Number.isFinite(x)) return x;
  const text = Math.abs(x).toString();
  if (text.includes('e')) return Math.abs(x) < 1 ? 0 : x;
  const [whole, fraction = ''] = text.split('.') as [string, string?];
  if (fraction.length <= places) return x;
  let digits = BigInt(whole + fraction.slice(0, places));
  if (fraction[places]! >= '5') digits += 1n;
  return (Math.sign(x) * Number(digits)) / 10 ** places;
}
