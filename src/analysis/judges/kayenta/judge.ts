/** One Kayenta judgement: classify every metric pair, then score (NetflixACAJudge.judge). */
import { classifyMetric, JUDGE_PARAMS, type MetricClassification } from './classify.js';
import type { KayentaMetric } from '../../../config/schemas/kayenta.js';
import { classifyScore, weightedSumScore, type GroupScore, type ScoreThresholds } from './score.js';

/** Kayenta's MetricSetPair: one metric (and tag set), both sides' values. */
export interface MetricPair {
  name: string;
  tags?: Record<string, string>;
  values: { control: number[]; experiment: number[] };
}

export interface KayentaReport {
  score: number;
  classification: 'Pass' | 'Marginal' | 'Fail';
  reason?: string;
  groups: GroupScore[];
  metrics: (MetricClassification & { name: string; tags: Record<string, string>; groups: string[]; muted: boolean })[];
}

export function judgeKayenta(
  metrics: readonly KayentaMetric[],
  pairs: readonly MetricPair[],
  groupWeights: Record<string, number>,
  thresholds: ScoreThresholds,
): KayentaReport {
  const byName = new Map(metrics.map((m) => [m.name, m]));
  const results = pairs.map((pair) => {
    const metric = byName.get(pair.name);
    if (!metric)
      throw new Error(
        `the data has metric "${pair.name}", which the canary config does not define (it defines: ${[...byName.keys()].join(', ')})`,
      );
    const c = classifyMetric(pair.name, pair.values.control, pair.values.experiment, metric.settings, JUDGE_PARAMS);
    return { ...c, name: pair.name, tags: pair.tags ?? {}, groups: metric.groups, muted: metric.settings.muted };
  });
  const score = weightedSumScore(results, groupWeights);
  return {
    score: score.score,
    classification: classifyScore(score.score, thresholds),
    ...(score.reason ? { reason: score.reason } : {}),
    groups: score.groups,
    metrics: results,
  };
}
