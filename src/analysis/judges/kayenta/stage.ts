/**
 * A Kayenta canary stage as a template runs it (live, or in the simulator): the loaded
 * canary config, the score thresholds in force, and Spinnaker's verdict over the
 * interval scores so far.
 */
import type { KayentaSpec } from '../../../config/schemas/analysis.js';
import { metricsOf, type KayentaCanaryConfig, type KayentaMetric } from '../../../config/schemas/kayenta.js';
import { aggregateIntervals, type ScoreThresholds } from './score.js';

/** Spinnaker's defaults when neither the template nor the canary config sets thresholds. */
export const DEFAULT_SCORE_THRESHOLDS: ScoreThresholds = { pass: 95, marginal: 75 };

/** The config's thresholds (Kayenta ignores them; kanari uses them when none are given), else the defaults. */
export function scoreThresholdsOf(config: KayentaCanaryConfig): ScoreThresholds {
  return config.classifier.scoreThresholds ?? DEFAULT_SCORE_THRESHOLDS;
}

export interface KayentaStage {
  config: KayentaCanaryConfig;
  metrics: KayentaMetric[];
  thresholds: ScoreThresholds;
}

export function kayentaStage(spec: KayentaSpec): KayentaStage {
  if (typeof spec.config === 'string')
    throw new Error(`the Kayenta canary config ${spec.config} was not loaded; load templates with loadDocuments`);
  return {
    config: spec.config,
    metrics: metricsOf(spec.config),
    thresholds: spec.thresholds ?? scoreThresholdsOf(spec.config),
  };
}

/**
 * Spinnaker's rules over the scores so far: an interval at or below `marginal` fails at
 * once; once the stage is `done`, the last score must also reach `pass`.
 */
export function stageResult(
  scores: readonly number[],
  thresholds: ScoreThresholds,
  done: boolean,
): { passed: boolean; reason: string } {
  return aggregateIntervals(scores, done ? thresholds : { marginal: thresholds.marginal });
}
