/**
 * The series judge as a Judge: every `interval`, each metric's series for canary and
 * control (one point per `step`, since the run began) is judged by `judges/series/`.
 * α is split evenly over metrics and looks (Bonferroni), so looking `count` times does
 * not raise the chance of failing an A/A canary above α. Any metric failing at any look
 * fails the run; after `count` looks every metric must have passed, else it is Inconclusive.
 */
import type { Verdict } from '../judges/sequential/judge.js';
import { judgeSeries, type SeriesLook, type SeriesMetricResult } from '../judges/series/judge.js';
import type { MetricResult } from '../providers/types.js';
import {
  seriesOfBothSides,
  seriesOf,
  type AnalysisRunState,
  type Judge,
  type JudgeReport,
  type MeasurementSource,
} from './judge.js';

export class SeriesLooks implements Judge {
  constructor(
    private readonly state: AnalysisRunState,
    private readonly source: MeasurementSource,
  ) {
    state.series ??= { looks: [] };
  }

  async tick(now: number): Promise<void> {
    const s = this.state;
    const spec = s.spec.series!;
    const looks = s.series!.looks;
    const next = s.startedAt + (looks.length + 1) * spec.interval;
    if (now < next || looks.length >= spec.count) return;
    const window = { start: s.startedAt, end: next };
    const alpha = spec.alpha / (spec.metrics.length * spec.count);
    const metrics: SeriesLook['metrics'] = [];
    const shares = this.canaryShares(window.start, window.end, spec.step);
    for (const metric of spec.metrics) {
      const { canary, control } = await seriesOfBothSides(
        s,
        this.source,
        metric.name,
        metric.provider,
        window,
        spec.step,
      );
      const missing = [canary, control].find(
        (r) => r.kind !== 'value' && !(r.kind === 'empty' && metric.missing === 'zero'),
      );
      const result: SeriesMetricResult = missing
        ? {
            verdict: 'Inconclusive',
            test: 'none',
            points: 0,
            reason: `no series (${missing.kind}: ${missingMessage(missing)})`,
          }
        : judgeSeries(...bothSides(canary, control), { ...metric, minPoints: spec.minPoints, ...shares }, alpha);
      metrics.push({ name: metric.name, ...result });
    }
    looks.push({ end: next, metrics });
    s.through = next;
  }

  verdict(final: boolean): Verdict {
    return this.outcome(final).verdict;
  }

  report(final: boolean): JudgeReport {
    const last = this.state.series!.looks.at(-1);
    return {
      judge: 'series',
      score: last
        ? Math.round((100 * last.metrics.filter((m) => m.verdict === 'Pass').length) / last.metrics.length)
        : 100,
      reason: this.outcome(final).reason,
      metrics: (last?.metrics ?? []).map((m) => ({
        name: m.name,
        verdict: m.verdict === 'Pass' ? 'Successful' : m.verdict === 'Fail' ? 'Failed' : 'Inconclusive',
        summary: m.reason,
        details: m,
      })),
    };
  }

  save(): void {}

  /** The canary's lowest and highest configured share over the window's steps, where the source knows it. */
  private canaryShares(start: number, end: number, step: number): { canaryShares?: [number, number] } {
    const known: number[] = [];
    for (let t = start; t < end; t += step) {
      const share = this.source.expectedShareAt?.(t, Math.min(end, t + step))?.requests;
      if (share !== undefined) known.push(share);
    }
    return known.length > 0 ? { canaryShares: [Math.min(...known), Math.max(...known)] } : {};
  }

  private outcome(final: boolean): { verdict: Verdict; reason: string } {
    const spec = this.state.spec.series!;
    const looks = this.state.series!.looks;
    for (const look of looks) {
      const failed = look.metrics.find((m) => m.verdict === 'Fail');
      if (failed) return { verdict: 'Failed', reason: `${failed.name}: ${failed.reason}` };
    }
    const last = looks.at(-1);
    const done = final || looks.length >= spec.count;
    if (!last) return { verdict: done ? 'Inconclusive' : 'Running', reason: 'no interval has been judged yet' };
    if (!done) return { verdict: 'Running', reason: `${looks.length} of ${spec.count} look(s) taken, nothing failed` };
    const open = last.metrics.find((m) => m.verdict !== 'Pass');
    if (open) return { verdict: 'Inconclusive', reason: `${open.name}: ${open.reason}` };
    return {
      verdict: 'Successful',
      reason: `every metric shown no worse than control (${last.metrics.map((m) => m.reason).join('; ')})`,
    };
  }
}

/** Both series, a side with no series at all standing as missing points (read as zero when `missing: zero`). */
function bothSides(canary: MetricResult, control: MetricResult): [number[], number[]] {
  const [x, y] = [seriesOf(canary), seriesOf(control)];
  const length = Math.max(x.length, y.length);
  const fill = (v: number[]) => (v.length === 0 ? new Array<number>(length).fill(NaN) : v);
  return [fill(x), fill(y)];
}

function missingMessage(r: MetricResult): string {
  return r.kind === 'value' ? '' : r.message;
}
