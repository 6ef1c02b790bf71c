/** The sequential test as a Judge: every window of canary against control since the last tick, folded in order. */
import { SequentialJudge, type SequentialReport, type Verdict } from '../judges/sequential/judge.js';
import { sequentialSettings } from '../templates.js';
import { fmt, type AnalysisRunState, type Judge, type JudgeReport, type MeasurementSource } from './judge.js';

export class SequentialTest implements Judge {
  private readonly judge: SequentialJudge;
  private readonly windows: NonNullable<MeasurementSource['windows']>;

  constructor(
    private readonly state: AnalysisRunState,
    source: MeasurementSource,
  ) {
    if (!source.windows)
      throw new Error(
        `template ${state.template} is sequential, which needs kanari's own router (the builtin provider)`,
      );
    this.windows = source.windows.bind(source);
    this.judge = state.sequential
      ? SequentialJudge.from(state.sequential)
      : new SequentialJudge(sequentialSettings(state.spec.sequential!));
  }

  tick(now: number): Promise<void> {
    const s = this.state;
    for (const { start, end, window: w } of this.windows({ start: s.through, end: now })) {
      this.judge.observe(w);
      s.measurements.push({
        metric: 'window',
        window: { start, end },
        outcome: 'value',
        value: {
          canary: { requests: w.canary.requests, errors: w.canary.errors },
          control: { requests: w.control.requests, errors: w.control.errors },
        },
      });
      s.through = end;
    }
    return Promise.resolve();
  }

  verdict(final: boolean): Verdict {
    return this.judge.verdict(final);
  }

  report(final: boolean): JudgeReport {
    return { judge: 'sequential', ...sequentialReport(this.judge.report(final)) };
  }

  save(): void {
    this.state.sequential = this.judge.toJSON();
  }
}

function sequentialReport(r: SequentialReport): Omit<JudgeReport, 'judge'> {
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
