/**
 * A Kayenta canary stage as a Judge: every `interval`, each metric's series for both
 * sides (one point per `step`, since the start or over the last `lookback`) is scored by
 * the NetflixACAJudge port; Spinnaker's rules turn the scores into a verdict.
 */
import type { Verdict } from '../judges/sequential/judge.js';
import { judgeKayenta, type MetricPair } from '../judges/kayenta/judge.js';
import { kayentaStage, stageResult, type KayentaStage } from '../judges/kayenta/stage.js';
import {
  fmt,
  seriesOfBothSides,
  seriesOf,
  type AnalysisRunState,
  type Judge,
  type JudgeReport,
  type MeasurementSource,
} from './judge.js';

export class KayentaIntervals implements Judge {
  private readonly stage: KayentaStage;

  constructor(
    private readonly state: AnalysisRunState,
    private readonly source: MeasurementSource,
  ) {
    this.stage = kayentaStage(state.spec.kayenta!);
    state.kayenta ??= { scores: [] };
  }

  async tick(now: number): Promise<void> {
    const s = this.state;
    const k = s.spec.kayenta!;
    const next = s.startedAt + (s.kayenta!.scores.length + 1) * k.interval;
    if (now < next) return;
    const window = {
      start: k.lookback === undefined ? s.startedAt : Math.max(s.startedAt, next - k.lookback),
      end: next,
    };
    const { config, metrics, thresholds } = this.stage;
    const pairs: MetricPair[] = [];
    for (const metric of metrics) {
      const query = k.metrics[metric.name]!;
      const { canary, control } = await seriesOfBothSides(s, this.source, metric.name, query, window, k.step);
      pairs.push({ name: metric.name, values: { experiment: seriesOf(canary), control: seriesOf(control) } });
    }
    const report = judgeKayenta(metrics, pairs, config.classifier.groupWeights, thresholds);
    s.kayenta!.scores.push(report.score);
    s.kayenta!.last = report;
    s.through = next;
  }

  verdict(final: boolean): Verdict {
    return this.outcome(final).verdict;
  }

  report(final: boolean): JudgeReport {
    const last = this.state.kayenta!.last;
    return {
      judge: 'kayenta',
      score: last?.score ?? 100,
      reason: this.outcome(final).reason,
      metrics: (last?.metrics ?? []).map((m) => ({
        name: m.name,
        verdict: m.classification === 'Pass' || m.classification === 'Nodata' ? 'Successful' : 'Failed',
        summary: `${m.classification}${m.reason ? ` (${m.reason})` : ''}; canary mean ${fmt(m.experiment.mean)}, control mean ${fmt(m.control.mean)}${m.muted ? ' [muted]' : ''}`,
        details: m,
      })),
    };
  }

  save(): void {}

  private outcome(final: boolean): { verdict: Verdict; reason: string } {
    const { count } = this.state.spec.kayenta!;
    const { scores } = this.state.kayenta!;
    if (scores.length === 0)
      return { verdict: final ? 'Inconclusive' : 'Running', reason: 'no interval has been judged yet' };
    const done = final || (count !== undefined && scores.length >= count);
    const { passed, reason } = stageResult(scores, this.stage.thresholds, done);
    if (!passed) return { verdict: 'Failed', reason };
    return {
      verdict: done ? 'Successful' : 'Running',
      reason: done ? reason : `${scores.length} interval(s) judged; the last scored ${scores.at(-1)}`,
    };
  }
}
