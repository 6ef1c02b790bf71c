/**
 * A Kayenta template in the simulator: each metric's builtin query is answered for both
 * sides once per `step` from the synthetic seconds, and every `interval` the series so
 * far (or the last `lookback`) are scored by the NetflixACAJudge port. Spinnaker's
 * rules decide: an interval scoring at or below `marginal` rolls back at once, and after
 * `count` intervals the last must reach `pass`.
 */
import type { KayentaSpec } from '../../config/schemas/analysis.js';
import type { KayentaCanaryConfig, KayentaMetric } from '../judges/kayenta/config.js';
import { metricsOf } from '../judges/kayenta/config.js';
import { judgeKayenta, type KayentaReport } from '../judges/kayenta/judge.js';
import { aggregateIntervals, type ScoreThresholds } from '../judges/kayenta/score.js';
import type { ComparisonWindow } from '../judges/sequential/window.js';
import type { Runner } from './engine.js';
import { addWindow, syntheticValue, type Totals } from './threshold-runner.js';

export class KayentaRunner implements Runner {
  private readonly config: KayentaCanaryConfig;
  private readonly metrics: KayentaMetric[];
  private readonly thresholds: ScoreThresholds;
  private canary: Totals = { requests: 0, errors: 0 };
  private control: Totals = { requests: 0, errors: 0 };
  /** Per metric: one value per finished step, each side. */
  private readonly series: Map<string, { experiment: number[]; control: number[] }>;
  private readonly scores: number[] = [];
  private last?: KayentaReport;
  private verdict: { passed: boolean; reason: string } | undefined;

  constructor(private readonly spec: KayentaSpec) {
    if (typeof spec.config === 'string') throw new Error(`the Kayenta canary config ${spec.config} was not loaded`);
    this.config = spec.config;
    this.metrics = metricsOf(this.config);
    this.thresholds = spec.thresholds ?? this.config.classifier.scoreThresholds ?? { pass: 95, marginal: 75 };
    this.series = new Map(this.metrics.map((m) => [m.name, { experiment: [], control: [] }]));
  }

  observe(second: number, w: ComparisonWindow): void {
    addWindow(this.canary, w.canary);
    addWindow(this.control, w.control);
    const elapsed = (second + 1) * 1000;
    if (elapsed % this.spec.step === 0) this.closeStep();
    if (elapsed % this.spec.interval === 0 && !this.verdict) this.judge();
  }

  private closeStep(): void {
    for (const m of this.metrics) {
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
    const pairs = this.metrics.map((m) => {
      const s = this.series.get(m.name)!;
      return { name: m.name, values: { experiment: s.experiment.slice(-keep), control: s.control.slice(-keep) } };
    });
    this.last = judgeKayenta(this.metrics, pairs, this.config.classifier.groupWeights, this.thresholds);
    this.scores.push(this.last.score);
    const done = this.spec.count !== undefined && this.scores.length >= this.spec.count;
    const result = aggregateIntervals(this.scores, done ? this.thresholds : { marginal: this.thresholds.marginal });
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
