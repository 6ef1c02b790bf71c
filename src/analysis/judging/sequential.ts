/**
 * The sequential test as a Judge: the counts of every interval since the last tick, from
 * the template's count source (the router's stats, Prometheus, or the simulator's
 * seconds), folded in order.
 */
import { SequentialJudge, type SequentialReport, type Verdict } from '../judges/sequential/judge.js';
import { comparisonOf, latencyMisfit, type CountSource } from '../providers/counts.js';
import type { VersionWindow } from '../judges/sequential/window.js';
import { sequentialSettings } from '../templates.js';
import { fmt, record, type AnalysisRunState, type Judge, type JudgeReport, type MeasurementSource } from './judge.js';

export class SequentialTest implements Judge {
  private readonly judge: SequentialJudge;
  private readonly counts: CountSource;

  constructor(
    private readonly state: AnalysisRunState,
    private readonly source: MeasurementSource,
  ) {
    const counts = source.counts?.(state.spec.sequential!);
    if (!counts)
      throw new Error(
        `template ${state.template} is sequential and names no source, so it needs kanari's own router (the builtin provider); set sequential.source.prometheus to count from Prometheus`,
      );
    this.counts = counts;
    this.judge = state.sequential
      ? SequentialJudge.from(state.sequential)
      : new SequentialJudge(sequentialSettings(state.spec.sequential!));
  }

  async tick(now: number): Promise<void> {
    const s = this.state;
    const answer = await this.counts.windows(s.through, now);
    if (answer.kind !== 'value') {
      if (answer.kind === 'error' && answer.misconfigured) s.error = `${this.counts.name} counts: ${answer.message}`;
      // An outage is kept once, not every second; its data is taken when the source answers again.
      const last = s.measurements.at(-1);
      if (last?.outcome !== answer.kind || last.message !== answer.message)
        s.measurements.push(record('window', { start: s.through, end: now }, answer));
      return;
    }
    for (const window of answer.windows) {
      const misfit = latencyMisfit(this.judge.settings.metrics, window);
      if (misfit) {
        s.error = `${this.counts.name} counts: ${misfit}`;
        return;
      }
      const w = comparisonOf(window, this.source.expectedShareAt?.(window.start, window.end));
      if (this.source.assignment) w.assignment = this.source.assignment;
      const unit = this.judge.settings.unit ?? 'auto';
      const wantsUsers = unit === 'users' || (unit === 'auto' && w.assignment === 'key');
      if (wantsUsers && (!w.canary.keys || !w.control.keys)) {
        // Never fall back to counting requests (with sticky users that test is not valid), and
        // do not roll back either: the run stops judging and the rollout waits for a person.
        this.judge.interrupt(
          `${this.counts.name} counts have no user dimension, but ${unit === 'users' ? 'the template asks for unit: users' : 'the router keeps each user on one version, so users must be counted'}; run a kanari router that counts users (restart one adopted from an older version), or use unit: requests where each request is assigned a version on its own`,
        );
        s.through = window.end;
        continue;
      }
      this.judge.observe(w);
      s.measurements.push({
        metric: 'window',
        window: { start: window.start, end: window.end },
        outcome: 'value',
        value: { canary: counted(w.canary), control: counted(w.control) },
      });
      s.through = window.end;
    }
  }

  verdict(final: boolean): Verdict {
    return this.judge.verdict(final);
  }

  waitingFor(): string | undefined {
    const { minRequests, minUsers = 0 } = this.judge.settings.promotion;
    const { canaryRequests, canaryUsers } = this.judge.exposure;
    const missing: string[] = [];
    // Even with minRequests 0 a pass needs some canary traffic: no data at all is not "no worse".
    if (canaryRequests < Math.max(1, minRequests))
      missing.push(
        minRequests <= 1
          ? 'no canary request yet'
          : `${canaryRequests} of ${minRequests} canary requests (promotion.minRequests)`,
      );
    if (canaryUsers < minUsers) missing.push(`${canaryUsers} of ${minUsers} canary users (promotion.minUsers)`);
    return missing.length > 0 ? missing.join('; ') : undefined;
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

/** A window's counts as a measurement keeps them: requests and errors, and users where they were counted. */
function counted(v: VersionWindow): Record<string, number | number[]> {
  const bounds = v.latency?.bounds;
  return {
    requests: v.requests,
    errors: v.errors,
    ...(v.keys ? { users: v.keys.seen, failedUsers: v.keys.failed } : {}),
    // A histogram's latency as the source knows it, for the history (on a cluster the only
    // latency kept): its bucket bounds (s) and how many of the window's requests were above each.
    ...(bounds && bounds.length > 0 ? { bounds: [...bounds], above: v.latency!.countAbove(bounds) } : {}),
  };
}
