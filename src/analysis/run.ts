/**
 * An analysis run: one template judging one canary, either as a step of the plan (it
 * blocks until it has a verdict) or in the background (it runs alongside the steps and
 * can only stop the rollout). The controller calls `tick(now)` every second; the run
 * takes whatever measurements are due, records each with its time window, and folds
 * it into its judge. The whole run — measurements and judge state — is plain JSON, so a
 * restarted controller resumes it where it was.
 */
import type { AnalysisTemplateSpec, ProviderQuery, ThresholdMetric } from '../config/schemas/analysis.js';
import type { Value } from '../config/expression.js';
import {
  compileConditions,
  emptyState,
  measurementDueAt,
  metricPhase,
  overallPhase,
  recordOutcome,
  thresholdSettings,
  type CompiledConditions,
  type MetricPhase,
  type ThresholdSettings,
  type ThresholdState,
} from './judges/threshold/judge.js';
import {
  SequentialJudge,
  type SequentialJudgeState,
  type SequentialReport,
  type Verdict,
} from './judges/sequential/judge.js';
import { judgeKayenta, type KayentaReport, type MetricPair } from './judges/kayenta/judge.js';
import { kayentaStage, stageResult, type KayentaStage } from './judges/kayenta/stage.js';
import { BuiltinCounts, type StatsRecorder } from './providers/builtin.js';
import { comparisonOf, latencyMisfit, type CountSource } from './providers/counts.js';
import { PrometheusCountSource } from './providers/prometheus-counts.js';
import type { Providers } from './providers/index.js';
import type { MetricResult, TimeWindow } from './providers/types.js';
import { sequentialSettings } from './templates.js';

export type RunScope = 'step' | 'background';

/** What a run needs from the controller. */
export interface RunEnvironment {
  service: string;
  providers: Providers;
  /** The router's stats, for sequential templates that name no other source. */
  recorder?: StatsRecorder;
  /** The canary's configured share of canary + control traffic now (for the sample-ratio guard). */
  expectedShare?: () => number | undefined;
  /** Whether a baseline is serving, so "control" means baseline rather than stable. */
  hasBaseline?: () => boolean;
}

/** One measurement: what was asked, over which window, and what came back. */
export interface MeasurementRecord {
  metric: string;
  window: TimeWindow;
  outcome: MetricResult['kind'];
  value?: Value;
  message?: string;
  /** For threshold metrics: how the value was judged. */
  phase?: string;
}

export interface MetricVerdict {
  name: string;
  verdict: Verdict;
  /** The numbers behind the verdict, one line. */
  summary: string;
  details?: unknown;
}

export interface AnalysisReport {
  template: string;
  judge: 'threshold' | 'sequential' | 'kayenta';
  scope: RunScope;
  startedAt: number;
  endedAt?: number;
  verdict: Verdict;
  /**
   * 0–100, higher is better. threshold: the share of judged measurements that passed;
   * kayenta: the last interval's score; sequential: how much of the error budget is
   * left before a rollback (100 with no evidence against the canary, 0 at rollback).
   */
  score: number;
  reason: string;
  metrics: MetricVerdict[];
  measurements: number;
}

export interface AnalysisRunState {
  template: string;
  spec: AnalysisTemplateSpec;
  scope: RunScope;
  startedAt: number;
  /** Time up to which data has been taken (ms). */
  through: number;
  endedAt?: number;
  final?: boolean;
  measurements: MeasurementRecord[];
  threshold?: ThresholdState[];
  sequential?: SequentialJudgeState;
  /** Why the sequential judge cannot work against its source (a misconfiguration): the verdict is Error. */
  error?: string;
  kayenta?: { scores: number[]; last?: KayentaReport };
}

export class AnalysisRun {
  private readonly thresholds: {
    metric: ThresholdMetric;
    settings: ThresholdSettings;
    conditions: CompiledConditions;
    usesControl: boolean;
  }[] = [];
  private sequential?: SequentialJudge;
  private counts?: CountSource;
  private kayenta?: KayentaStage;

  private constructor(
    private readonly state: AnalysisRunState,
    private readonly env: RunEnvironment,
  ) {
    const { spec } = state;
    if (spec.threshold) {
      for (const metric of spec.threshold.metrics) {
        const text = `${metric.successCondition ?? ''} ${metric.failureCondition ?? ''}`;
        this.thresholds.push({
          metric,
          settings: thresholdSettings(metric),
          conditions: compileConditions(metric),
          usesControl: /\bcontrol\b/.test(text),
        });
      }
      state.threshold ??= spec.threshold.metrics.map(() => emptyState());
    } else if (spec.sequential) {
      const prometheus = spec.sequential.source?.prometheus;
      if (prometheus) this.counts = new PrometheusCountSource(prometheus, env.service);
      else if (env.recorder) this.counts = new BuiltinCounts(env.recorder);
      else
        throw new Error(
          `template ${state.template} is sequential and names no source, so it needs kanari's own router (the builtin provider); set sequential.source.prometheus to count from Prometheus`,
        );
      this.sequential = state.sequential
        ? SequentialJudge.from(state.sequential)
        : new SequentialJudge(sequentialSettings(spec.sequential));
    } else {
      this.kayenta = kayentaStage(spec.kayenta!);
      state.kayenta ??= { scores: [] };
    }
  }

  static start(
    template: string,
    spec: AnalysisTemplateSpec,
    scope: RunScope,
    now: number,
    env: RunEnvironment,
  ): AnalysisRun {
    return new AnalysisRun({ template, spec, scope, startedAt: now, through: now, measurements: [] }, env);
  }

  /** Picks a run up from its saved state, as a restarted controller does. */
  static resume(state: AnalysisRunState, env: RunEnvironment): AnalysisRun {
    return new AnalysisRun(structuredClone(state), env);
  }

  toJSON(): AnalysisRunState {
    if (this.sequential) this.state.sequential = this.sequential.toJSON();
    return structuredClone(this.state);
  }

  /**
   * What a store keeps each tick without rewriting the past: the state without its
   * measurements, and the measurements from index `from` on, to append.
   */
  persisted(from: number): { state: AnalysisRunState; added: MeasurementRecord[] } {
    if (this.sequential) this.state.sequential = this.sequential.toJSON();
    const { measurements, ...rest } = this.state;
    return { state: { ...structuredClone(rest), measurements: [] }, added: structuredClone(measurements.slice(from)) };
  }

  get measurements(): readonly MeasurementRecord[] {
    return this.state.measurements;
  }

  /** Takes every measurement due by `now`. Safe to call as often as you like. */
  async tick(now: number): Promise<void> {
    if (this.state.endedAt !== undefined || now <= this.state.through) return;
    if (this.sequential) await this.tickSequential(now);
    else if (this.state.threshold) await this.tickThreshold(now);
    else await this.tickKayenta(now);
    if (this.verdict() !== 'Running') this.state.endedAt ??= now;
  }

  /** Ends the run (its step is over, or the rollout moved on): what has not been shown by now is Inconclusive. */
  finish(now: number): void {
    this.state.final = true;
    this.state.endedAt ??= now;
  }

  verdict(): Verdict {
    const final = this.state.final ?? false;
    if (this.state.error !== undefined) return 'Error';
    if (this.sequential) return this.sequential.verdict(final);
    if (this.state.threshold) {
      const phase = overallPhase(
        this.thresholds.map((t, i) => ({
          phase: metricPhase(t.settings, this.state.threshold![i]!),
          dryRun: t.settings.dryRun,
        })),
      );
      return phase === 'Running' && final ? 'Inconclusive' : phase;
    }
    return this.kayentaVerdict(final).verdict;
  }

  report(): AnalysisReport {
    const s = this.state;
    const base = {
      template: s.template,
      scope: s.scope,
      startedAt: s.startedAt,
      ...(s.endedAt !== undefined ? { endedAt: s.endedAt } : {}),
      verdict: this.verdict(),
      measurements: s.measurements.length,
    };
    if (this.sequential) {
      const report = sequentialReport(this.sequential.report(s.final ?? false));
      return { ...base, judge: 'sequential', ...report, ...(s.error !== undefined ? { reason: s.error } : {}) };
    }
    if (s.threshold) return { ...base, judge: 'threshold', ...this.thresholdReport() };
    const { reason } = this.kayentaVerdict(s.final ?? false);
    const last = s.kayenta!.last;
    return {
      ...base,
      judge: 'kayenta',
      score: last?.score ?? 100,
      reason,
      metrics: (last?.metrics ?? []).map((m) => ({
        name: m.name,
        verdict: m.classification === 'Pass' || m.classification === 'Nodata' ? 'Successful' : 'Failed',
        summary: `${m.classification}${m.reason ? ` (${m.reason})` : ''}; canary mean ${fmt(m.experiment.mean)}, control mean ${fmt(m.control.mean)}${m.muted ? ' [muted]' : ''}`,
        details: m,
      })),
    };
  }

  // ── threshold ──────────────────────────────────────────────────────────────

  private async tickThreshold(now: number): Promise<void> {
    const s = this.state;
    const elapsed = (now - s.startedAt) / 1000;
    await Promise.all(
      this.thresholds.map(async (t, i) => {
        const state = s.threshold![i]!;
        const due = measurementDueAt(t.settings, state);
        if (due === undefined || elapsed < due) return;
        const previous = state.measurements.at(-1);
        const window = { start: previous ? s.startedAt + previous.at * 1000 : s.startedAt, end: now };
        const query = this.forVersion(t.metric.provider, undefined);
        const [result, control] = await Promise.all([
          this.env.providers.query(query, window, { service: this.env.service }),
          t.usesControl
            ? this.env.providers.query(this.forVersion(t.metric.provider, this.controlVersion()), window, {
                service: this.env.service,
              })
            : undefined,
        ]);
        const scope: Record<string, Value> = control?.kind === 'value' ? { control: control.value } : {};
        s.threshold![i] = recordOutcome(state, t.conditions, result, elapsed, scope);
        const judged = s.threshold![i]!.measurements.at(-1)!;
        s.measurements.push(record(t.metric.name, window, result, judged.phase));
      }),
    );
    s.through = now;
  }

  private thresholdReport(): Pick<AnalysisReport, 'score' | 'reason' | 'metrics'> {
    const states = this.state.threshold!;
    const judged = states.flatMap((st) => st.measurements.filter((m) => m.phase !== 'Error'));
    const passed = judged.filter((m) => m.phase === 'Successful').length;
    const metrics = this.thresholds.map((t, i): MetricVerdict => {
      const st = states[i]!;
      const phase: MetricPhase = metricPhase(t.settings, st);
      const last = st.measurements.at(-1);
      const tail = last
        ? `; last ${last.value !== undefined ? JSON.stringify(last.value) : last.message} (${last.phase})`
        : '; not measured yet';
      return {
        name: t.metric.name,
        verdict: phase,
        summary: `${st.measurements.length} measured, ${st.failed} failed, ${st.inconclusive} inconclusive, ${st.errors} errors${tail}${t.settings.dryRun ? ' [dry run]' : ''}`,
      };
    });
    const worst = metrics.find(
      (m) => m.verdict === this.verdict() && m.verdict !== 'Successful' && m.verdict !== 'Running',
    );
    const reason = worst
      ? `${worst.name} is ${worst.verdict}: ${worst.summary}`
      : this.verdict() === 'Successful'
        ? 'every metric met its conditions'
        : `${judged.length} measurement(s) so far, ${passed} passed`;
    return { score: judged.length === 0 ? 100 : Math.round((1000 * passed) / judged.length) / 10, reason, metrics };
  }

  // ── sequential ─────────────────────────────────────────────────────────────

  private async tickSequential(now: number): Promise<void> {
    const s = this.state;
    const share = this.env.expectedShare?.();
    const answer = await this.counts!.windows(s.through, now);
    if (answer.kind !== 'value') {
      if (answer.kind === 'error' && answer.misconfigured) s.error = `${this.counts!.name} counts: ${answer.message}`;
      // An outage is kept once, not every second; its data is taken when the source answers again.
      const last = s.measurements.at(-1);
      if (last?.outcome !== answer.kind || last.message !== answer.message)
        s.measurements.push(record('window', { start: s.through, end: now }, answer));
      return;
    }
    for (const window of answer.windows) {
      const misfit = latencyMisfit(this.sequential!.settings.metrics, window);
      if (misfit) {
        s.error = `${this.counts!.name} counts: ${misfit}`;
        return;
      }
      const w = comparisonOf(window, share);
      this.sequential!.observe(w);
      s.measurements.push({
        metric: 'window',
        window: { start: window.start, end: window.end },
        outcome: 'value',
        value: {
          canary: { requests: w.canary.requests, errors: w.canary.errors },
          control: { requests: w.control.requests, errors: w.control.errors },
        },
      });
      s.through = window.end;
    }
  }

  // ── kayenta ────────────────────────────────────────────────────────────────

  private async tickKayenta(now: number): Promise<void> {
    const s = this.state;
    const k = s.spec.kayenta!;
    const next = s.startedAt + (s.kayenta!.scores.length + 1) * k.interval;
    if (now < next) return;
    const window = {
      start: k.lookback === undefined ? s.startedAt : Math.max(s.startedAt, next - k.lookback),
      end: next,
    };
    const { config, metrics, thresholds } = this.kayenta!;
    const pairs: MetricPair[] = [];
    for (const metric of metrics) {
      const source = k.metrics[metric.name]!;
      const [experiment, control] = await Promise.all(
        [this.forVersion(source, 'canary'), this.forVersion(source, this.controlVersion())].map((q) =>
          this.env.providers.query(q, window, { service: this.env.service }, { step: k.step }),
        ),
      );
      s.measurements.push(
        record(`${metric.name} (canary)`, window, experiment!),
        record(`${metric.name} (control)`, window, control!),
      );
      pairs.push({ name: metric.name, values: { experiment: seriesOf(experiment!), control: seriesOf(control!) } });
    }
    const report = judgeKayenta(metrics, pairs, config.classifier.groupWeights, thresholds);
    s.kayenta!.scores.push(report.score);
    s.kayenta!.last = report;
    s.through = next;
  }

  private kayentaVerdict(final: boolean): { verdict: Verdict; reason: string } {
    const { count } = this.state.spec.kayenta!;
    const { scores } = this.state.kayenta!;
    if (scores.length === 0)
      return { verdict: final ? 'Inconclusive' : 'Running', reason: 'no interval has been judged yet' };
    const done = final || (count !== undefined && scores.length >= count);
    const { passed, reason } = stageResult(scores, this.kayenta!.thresholds, done);
    if (!passed) return { verdict: 'Failed', reason };
    return {
      verdict: done ? 'Successful' : 'Running',
      reason: done ? reason : `${scores.length} interval(s) judged; the last scored ${scores.at(-1)}`,
    };
  }

  // ── shared ─────────────────────────────────────────────────────────────────

  private controlVersion(): 'stable' | 'baseline' {
    return this.env.hasBaseline?.() ? 'baseline' : 'stable';
  }

  /** The same query about another version (undefined keeps the query's own). */
  private forVersion(q: ProviderQuery, version: 'canary' | 'stable' | 'baseline' | undefined): ProviderQuery {
    if (version === undefined) return q;
    if (q.builtin) return { builtin: { ...q.builtin, version } };
    if (q.prometheus) return { prometheus: { ...q.prometheus, version } };
    return { web: { ...q.web!, version } };
  }
}

function seriesOf(r: MetricResult): number[] {
  if (r.kind !== 'value') return [];
  if (r.series) return r.series;
  return typeof r.value === 'number' ? [r.value] : [];
}

function record(
  metric: string,
  window: TimeWindow,
  r: MetricResult | { kind: 'empty' | 'error' | 'timeout'; message: string },
  phase?: string,
): MeasurementRecord {
  return {
    metric,
    window,
    outcome: r.kind,
    ...(r.kind === 'value' ? { value: r.value } : { message: r.message }),
    ...(phase ? { phase } : {}),
  };
}

function sequentialReport(r: SequentialReport): Pick<AnalysisReport, 'score' | 'reason' | 'metrics'> {
  // Evidence used up: ln E / ln(1/α) per metric; the score is what is left of the closest one.
  const used = Math.max(0, ...r.metrics.map((m) => Math.log(Math.max(1, m.eValue)) / Math.log(1 / m.alpha)));
  return {
    score: Math.round(1000 * Math.max(0, 1 - used)) / 10,
    reason: r.reason,
    metrics: r.metrics.map((m) => ({
      name: m.name,
      verdict: m.failed ? 'Failed' : r.verdict === 'Failed' ? 'Successful' : r.verdict,
      summary:
        `e-value ${fmt(m.eValue)} (rollback at ${fmt(1 / m.alpha)}), p ${fmt(m.pValue)}; ` +
        m.parts
          .map(
            (p) =>
              `${p.event}: canary ${p.canary.events}/${p.canary.requests}, control ${p.control.events}/${p.control.requests}, ratio ${fmt(p.ratio.estimate)} [${fmt(p.ratio.lower)}, ${fmt(p.ratio.upper)}]`,
          )
          .join('; '),
      details: m,
    })),
  };
}

function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 1000 || (Math.abs(x) < 0.001 && x !== 0)
    ? x.toExponential(2)
    : String(Math.round(x * 1000) / 1000);
}
