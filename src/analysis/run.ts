/**
 * An analysis run: one template judging one canary, either as a step of the plan (it
 * blocks until it has a verdict) or in the background (it runs alongside the steps and
 * can only stop the rollout). The controller calls `tick(now)` every second; the run
 * takes whatever measurements are due, records each with its time window, and folds
 * it into its judge. The whole run — measurements and judge state — is plain JSON, so a
 * restarted controller resumes it where it was.
 */
import type { AnalysisTemplateSpec } from '../config/schemas/analysis.js';
import type { SplitShares } from './judges/sequential/window.js';
import { BuiltinCounts, type StatsRecorder } from './providers/builtin.js';
import { PrometheusCountSource } from './providers/prometheus-counts.js';
import type { Providers } from './providers/index.js';
import type {
  AnalysisReport,
  AnalysisRunState,
  Judge,
  MeasurementRecord,
  MeasurementSource,
  RunScope,
  RunVerdict,
} from './judging/judge.js';
import { ThresholdChecks } from './judging/threshold.js';
import { SequentialTest } from './judging/sequential.js';
import { KayentaIntervals } from './judging/kayenta.js';
import { SeriesLooks } from './judging/series.js';

export type {
  AnalysisReport,
  AnalysisRunState,
  MeasurementRecord,
  MeasurementSource,
  MetricVerdict,
  RunScope,
  RunVerdict,
} from './judging/judge.js';

/** What a run needs from the controller: its numbers come from the router's stats and the providers. */
export interface RunEnvironment {
  service: string;
  providers: Providers;
  /** The router's stats, for sequential templates that name no other source. */
  recorder?: StatsRecorder;
  /** The canary's configured share all through a window (see MeasurementSource). */
  expectedShareAt?: (start: number, end: number) => SplitShares | undefined;
  /** Whether a baseline is serving, so "control" means baseline rather than stable. */
  hasBaseline?: () => boolean;
  /** What the rollout's router assigns to a version: a key (sticky users) or each request. */
  assignment?: 'key' | 'request';
  /**
   * The instance each version runs as now (`{{stable}}`, `{{canary}}`, `{{baseline}}` in a
   * Prometheus counts source's version values: on Kubernetes each version's Deployment is
   * named after its instance).
   */
  instances?: () => Partial<Record<'stable' | 'canary' | 'baseline', string>>;
  /** What `{{target}}` stands for per version where a query's `targets` does not say (on Kubernetes, its Deployment). */
  targets?: () => Partial<Record<'stable' | 'canary' | 'baseline', string>>;
}

/** Measured by the router and the providers, or by any other source (the simulator's synthetic traffic). */
export type RunInput = RunEnvironment | { source: MeasurementSource };

/** The controller's source: queries go to the providers, counts to Prometheus or the router's recorded stats. */
export function measuredSource(env: RunEnvironment): MeasurementSource {
  const recorder = env.recorder;
  return {
    query: (q, window, options) =>
      env.providers.query(
        q,
        window,
        { service: env.service, ...(env.targets ? { targets: env.targets() } : {}) },
        options,
      ),
    counts: (spec) => {
      const prometheus = spec.source?.prometheus;
      if (prometheus) return new PrometheusCountSource(prometheus, env.service, env.instances?.());
      return recorder ? new BuiltinCounts(recorder) : undefined;
    },
    ...(env.expectedShareAt ? { expectedShareAt: env.expectedShareAt } : {}),
    ...(env.hasBaseline ? { hasBaseline: env.hasBaseline } : {}),
    ...(env.assignment ? { assignment: env.assignment } : {}),
  };
}

function judgeFor(state: AnalysisRunState, source: MeasurementSource): Judge {
  if (state.spec.threshold) return new ThresholdChecks(state, source);
  if (state.spec.sequential) return new SequentialTest(state, source);
  if (state.spec.series) return new SeriesLooks(state, source);
  return new KayentaIntervals(state, source);
}

export class AnalysisRun {
  private readonly judge: Judge;

  private constructor(
    private readonly state: AnalysisRunState,
    input: RunInput,
  ) {
    this.judge = judgeFor(state, 'source' in input ? input.source : measuredSource(input));
  }

  /** `deadline`: until when a step run waits for the data a pass needs (then it is Inconclusive). */
  static start(
    template: string,
    spec: AnalysisTemplateSpec,
    scope: RunScope,
    now: number,
    env: RunInput,
    options: { deadline?: number } = {},
  ): AnalysisRun {
    const { deadline } = options;
    return new AnalysisRun(
      { template, spec, scope, startedAt: now, through: now, measurements: [], ...(deadline ? { deadline } : {}) },
      env,
    );
  }

  /** Picks a run up from its saved state, as a restarted controller does. */
  static resume(state: AnalysisRunState, env: RunInput): AnalysisRun {
    return new AnalysisRun(structuredClone(state), env);
  }

  toJSON(): AnalysisRunState {
    this.judge.save();
    return structuredClone(this.state);
  }

  /**
   * What a store keeps each tick without rewriting the past: the state without its
   * measurements, and the measurements from index `from` on, to append.
   */
  persisted(from: number): { state: AnalysisRunState; added: MeasurementRecord[] } {
    this.judge.save();
    const { measurements, ...rest } = this.state;
    return { state: { ...structuredClone(rest), measurements: [] }, added: structuredClone(measurements.slice(from)) };
  }

  get measurements(): readonly MeasurementRecord[] {
    return this.state.measurements;
  }

  /** Takes every measurement due by `now`. Safe to call as often as you like. */
  async tick(now: number): Promise<void> {
    if (this.state.endedAt !== undefined || now <= this.state.through) return;
    await this.judge.tick(now);
    const s = this.state;
    if (s.deadline !== undefined && now >= s.deadline && this.verdict() === 'Running') {
      const missing = this.judge.waitingFor();
      if (missing !== undefined) s.starved = `not enough data by the step's deadline: ${missing}`;
    }
    if (this.verdict() !== 'Running') s.endedAt ??= now;
  }

  /** Ends the run (its step is over, or the rollout moved on): what has not been shown by now is Inconclusive. */
  finish(now: number): void {
    this.state.final = true;
    this.state.endedAt ??= now;
  }

  /** The rollout ended the run before its verdict (`reason` says why, as "stopped: …"): it is Stopped, not judged. */
  stop(now: number, reason: string): void {
    this.state.stopped = reason;
    this.state.endedAt ??= now;
  }

  verdict(): RunVerdict {
    if (this.state.stopped !== undefined) return 'Stopped';
    // A judge that cannot work against its source (a misconfiguration) says so as Error.
    if (this.state.error !== undefined) return 'Error';
    if (this.state.starved !== undefined) return 'Inconclusive';
    const final = this.state.final ?? false;
    const verdict = this.judge.verdict(final);
    if (verdict !== 'Successful' || this.judge.waitingFor() === undefined) return verdict;
    return final ? 'Inconclusive' : 'Running';
  }

  /** Why the run says what it says, when the run rather than its judge decided it. */
  private reason(verdict: RunVerdict): string | undefined {
    const s = this.state;
    if (s.stopped !== undefined) return s.stopped;
    if (s.error !== undefined) return s.error;
    if (s.starved !== undefined) return s.starved;
    // The judge would pass, but on too little data: say what is missing rather than the judge's case for a pass.
    if (verdict === 'Successful' || this.judge.verdict(s.final ?? false) !== 'Successful') return undefined;
    return `not enough data for a pass: ${this.judge.waitingFor()}`;
  }

  report(): AnalysisReport {
    const s = this.state;
    const verdict = this.verdict();
    const reason = this.reason(verdict);
    return {
      template: s.template,
      scope: s.scope,
      startedAt: s.startedAt,
      ...(s.endedAt !== undefined ? { endedAt: s.endedAt } : {}),
      verdict,
      measurements: s.measurements.length,
      ...this.judge.report(s.final ?? false),
      ...(reason !== undefined ? { reason } : {}),
    };
  }
}
