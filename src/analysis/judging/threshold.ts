/** Threshold checks as a Judge: each metric measured on its own interval, judged by its conditions. */
import type { ThresholdMetric } from '../../config/schemas/analysis.js';
import type { Value } from '../../config/expression.js';
import {
  compileConditions,
  emptyState,
  measurementDueAt,
  metricPhase,
  missingValues,
  overallPhase,
  scheduleDone,
  recordOutcome,
  thresholdSettings,
  type CompiledConditions,
  type MetricPhase,
  type ThresholdSettings,
} from '../judges/threshold/judge.js';
import type { Verdict } from '../judges/sequential/judge.js';
import {
  controlVersion,
  forVersion,
  record,
  type AnalysisRunState,
  type Judge,
  type JudgeReport,
  type MeasurementSource,
  type MetricVerdict,
} from './judge.js';

export class ThresholdChecks implements Judge {
  private readonly metrics: {
    metric: ThresholdMetric;
    settings: ThresholdSettings;
    conditions: CompiledConditions;
    usesControl: boolean;
  }[];

  constructor(
    private readonly state: AnalysisRunState,
    private readonly source: MeasurementSource,
  ) {
    const metrics = state.spec.threshold!.metrics;
    this.metrics = metrics.map((metric) => {
      const text = `${metric.successCondition ?? ''} ${metric.failureCondition ?? ''}`;
      return {
        metric,
        settings: thresholdSettings(metric),
        conditions: compileConditions(metric),
        usesControl: /\bcontrol\b/.test(text),
      };
    });
    state.threshold ??= metrics.map(() => emptyState());
  }

  async tick(now: number): Promise<void> {
    const s = this.state;
    const elapsed = (now - s.startedAt) / 1000;
    const due = this.metrics.flatMap((t, i) => {
      const at = measurementDueAt(t.settings, s.threshold![i]!);
      return at !== undefined && elapsed >= at ? [i] : [];
    });
    // Most ticks measure nothing: the run is ticked every second, a metric every interval.
    if (due.length > 0) await this.measure(due, now, elapsed);
    s.through = now;
  }

  private async measure(due: readonly number[], now: number, elapsed: number): Promise<void> {
    const s = this.state;
    await Promise.all(
      due.map(async (i) => {
        const t = this.metrics[i]!;
        const state = s.threshold![i]!;
        const previous = state.measurements.at(-1);
        const window = { start: previous ? s.startedAt + previous.at * 1000 : s.startedAt, end: now };
        const [result, control] = await Promise.all([
          this.source.query(t.metric.provider, window),
          t.usesControl
            ? this.source.query(forVersion(t.metric.provider, controlVersion(this.source)), window)
            : undefined,
        ]);
        const scope: Record<string, Value> = control?.kind === 'value' ? { control: control.value } : {};
        s.threshold![i] = recordOutcome(state, t.conditions, result, elapsed, scope);
        const judged = s.threshold![i]!.measurements.at(-1)!;
        s.measurements.push(record(t.metric.name, window, result, judged.phase));
      }),
    );
  }

  verdict(final: boolean): Verdict {
    const phase = overallPhase(
      this.metrics.map((t, i) => ({
        phase: metricPhase(t.settings, this.state.threshold![i]!),
        dryRun: t.settings.dryRun,
      })),
    );
    return phase === 'Running' && final ? 'Inconclusive' : phase;
  }

  report(final: boolean): JudgeReport {
    const states = this.state.threshold!;
    const verdict = this.verdict(final);
    const judged = states.flatMap((st) => st.measurements.filter((m) => m.phase !== 'Error'));
    const passed = judged.filter((m) => m.phase === 'Successful').length;
    const metrics = this.metrics.map((t, i): MetricVerdict => {
      const st = states[i]!;
      const phase: MetricPhase = metricPhase(t.settings, st);
      const last = st.measurements.at(-1);
      const tail = last
        ? `; last ${last.value !== undefined ? shown(last.value) : last.message} (${last.phase})`
        : '; not measured yet';
      return {
        name: t.metric.name,
        verdict: phase,
        summary: `${st.measurements.length} measured, ${st.failed} failed, ${st.inconclusive} inconclusive, ${st.errors} errors${tail}${t.settings.dryRun ? ' [dry run]' : ''}`,
      };
    });
    const worst = metrics.find((m) => m.verdict === verdict && m.verdict !== 'Successful' && m.verdict !== 'Running');
    const reason = worst
      ? `${worst.name} is ${worst.verdict}: ${worst.summary}`
      : verdict === 'Successful'
        ? 'every metric met its conditions'
        : `${judged.length} measurement(s) so far, ${passed} passed`;
    return {
      judge: 'threshold',
      score: judged.length === 0 ? 100 : Math.round((1000 * passed) / judged.length) / 10,
      reason,
      metrics,
    };
  }

  /** Metrics whose measurements are all taken but too few had a value. */
  waitingFor(): string | undefined {
    const short = this.metrics.flatMap((t, i) => {
      const state = this.state.threshold![i]!;
      const missing = missingValues(t.settings, state);
      if (t.settings.dryRun || missing === 0 || !scheduleDone(t.settings, state)) return [];
      const min = t.settings.minMeasurements ?? 1;
      return [`${t.metric.name}: ${min - missing} of ${min} measurement(s) with a value`];
    });
    return short.length > 0 ? short.join('; ') : undefined;
  }

  save(): void {}
}

/** A measured value as a person reads it: numbers to 4 significant digits (0.4691, not 0.4691358024691358), anything else as JSON. */
function shown(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) =>
    typeof v === 'number' && Number.isFinite(v) && !Number.isInteger(v) ? Number(v.toPrecision(4)) : v,
  );
}
