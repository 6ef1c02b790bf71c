/**
 * A Kayenta template in the simulator: each metric's builtin query is answered for both
 * sides once per `step` from the synthetic seconds, and every `interval` the series so
 * far (or the last `lookback`) are scored by the NetflixACAJudge port. Spinnaker's
 * rules decide: an interval scoring at or below `marginal` rolls back at once, and after
 * `count` intervals the last must reach `pass`.
 */
import type { KayentaSpec } from '../../config/schemas/analysis.js';
import { judgeKayenta, type KayentaReport } from '../judges/kayenta/judge.js';
import { kayentaStage, stageResult, type KayentaStage } from '../judges/kayenta/stage.js';
import type { ComparisonWindow } from '../judges/sequential/window.js';
import type { Runner } from './runner.js';
import { addWindow, syntheticValue, type Totals } from './threshold-runner.js';

export class KayentaRunner implements Runner {
  private readonly stage: KayentaStage;
  private canary: Totals = { requests: 0, errors: 0 };
  private control: Totals = { requests: 0, errors: 0 };
  /** Per metric: one value per finished step, each side. */
  private readonly series: Map<string, { experiment: number[]; control: number[] }>;
  private readonly scores: number[] = [];
  private last?: KayentaReport;
  private verdict: { passed: boolean; reason: string } | undefined;

  constructor(private readonly spec: KayentaSpec) {
    this.stage = kayentaStage(spec);
    this.series = new Map(this.stage.metrics.map((m) => [m.name, { experiment: [], control: [] }]));
  }

  observe(second: number, w: ComparisonWindow): void {
    addWindow(this.canary, w.canary);
    addWindow(this.control, w.control);
    const elapsed = (second + 1) * 1000;
    if (elapsed % this.spec.step === 0) this.closeStep();
    if (elapsed % this.spec.interval === 0 && !this.verdict) this.judge();
  }

  private closeStep(): void {
    for (const m of this.stage.metrics) {
      const q = this.spec.metrics[m.name]!.builtin!;
      const s = this.series.get(m.name)!;
      const value = (totals: Totals) => {
        const r = syntheticValue(q, totals);
        return r.kind === 'value' ? (r.value as number) : NaN;
      };
      s.experiment.push(value(this.canary));
      s.control.push(value(this.control));
    }
    this.canary = { requests: 0, errors: 0 };
    this.control = { requests: 0, errors: 0 };
  }

  private judge(): void {
    const keep = this.spec.lookback === undefined ? Infinity : Math.round(this.spec.lookback / this.spec.step);
    const pairs = this.stage.metrics.map((m) => {
      const s = this.series.get(m.name)!;
      return { name: m.name, values: { experiment: s.experiment.slice(-keep), control: s.control.slice(-keep) } };
    });
    const { metrics, config, thresholds } = this.stage;
    this.last = judgeKayenta(metrics, pairs, config.classifier.groupWeights, thresholds);
    this.scores.push(this.last.score);
    const done = this.spec.count !== undefined && this.scores.length >= this.spec.count;
    const result = stageResult(this.scores, thresholds, done);
    if (!result.passed || done) this.verdict = result;
  }

  decision(): 'rollback' | 'pause' | 'continue' {
    return this.verdict && !this.verdict.passed ? 'rollback' : 'continue';
  }

  reason(): string {
    if (!this.verdict) return `${this.scores.length} interval(s) scored; last ${this.scores.at(-1) ?? '—'}`;
    const worst = this.last?.metrics.find((m) => m.classification !== 'Pass' && m.classification !== 'Nodata');
    return `${this.verdict.reason}${worst ? ` (${worst.name}: ${worst.classification}, canary mean ${round(worst.experiment.mean)} vs control ${round(worst.control.mean)})` : ''}`;
  }
}

function round(x: number): number {
  return Math.round(x * 1e5) / 1e5;
}
