/**
 * The `Judge` seam: one judge (threshold, sequential or Kayenta) driven over time. An
 * analysis run (`run.ts`) owns the state and asks its judge to take what is due; the
 * judge reads its numbers from a `MeasurementSource`, which is the only thing that
 * differs between a real rollout (the router's stats and the metric providers) and the
 * simulator (synthetic traffic). The judges themselves stay pure: numbers in, verdict out.
 */
import type { AnalysisTemplateSpec, ProviderQuery } from '../../config/schemas/analysis.js';
import type { CountSource } from '../providers/counts.js';
import type { Value } from '../../config/expression.js';
import type { ThresholdState } from '../judges/threshold/judge.js';
import type { SequentialJudgeState, Verdict } from '../judges/sequential/judge.js';
import type { SplitShares } from '../judges/sequential/window.js';
import type { KayentaReport } from '../judges/kayenta/judge.js';
import type { MetricResult, TimeWindow } from '../providers/types.js';

export type RunScope = 'step' | 'background';

/** Where a judge's numbers come from. */
export interface MeasurementSource {
  /** One query over a window; with `step` (ms), a series. Never throws: a failure is an `error` outcome. */
  query(q: ProviderQuery, window: TimeWindow, options?: { step?: number }): Promise<MetricResult>;
  /** Where the sequential test counts requests per version for this template; undefined where nothing can. */
  counts?(spec: NonNullable<AnalysisTemplateSpec['sequential']>): CountSource | undefined;
  /**
   * The canary's configured share of canary + control traffic all through a window, for the
   * sample-ratio guard and the per-user test; undefined when the split changed in it (the
   * window is not held to any split).
   */
  expectedShareAt?(start: number, end: number): SplitShares | undefined;
  /** Whether a baseline serves now, so "control" means baseline rather than stable. */
  hasBaseline?(): boolean;
  /** What the router assigns to a version (a key: sticky users; or each request), where known: it decides `unit: auto`. */
  readonly assignment?: 'key' | 'request';
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

export type JudgeKind = 'threshold' | 'sequential' | 'kayenta';

export interface AnalysisReport {
  template: string;
  judge: JudgeKind;
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
  /** Why the judge cannot work against its source (a misconfiguration): the verdict is Error. */
  error?: string;
  kayenta?: { scores: number[]; last?: KayentaReport };
}

/** What a judge says about its run, beside what the run itself knows. */
export type JudgeReport = Pick<AnalysisReport, 'judge' | 'score' | 'reason' | 'metrics'>;

/** One judge over one run's state: it records its measurements and its own state into it. */
export interface Judge {
  /** Takes every measurement due by `now` and folds it in. */
  tick(now: number): Promise<void>;
  /** `final`: the run is over, so what has not been shown by now is Inconclusive. */
  verdict(final: boolean): Verdict;
  report(final: boolean): JudgeReport;
  /** Writes any state kept outside the run's state into it (before it is saved). */
  save(): void;
}

/** The same query about another version (undefined keeps the query's own). */
export function forVersion(q: ProviderQuery, version: 'canary' | 'stable' | 'baseline' | undefined): ProviderQuery {
  if (version === undefined) return q;
  if (q.builtin) return { builtin: { ...q.builtin, version } };
  if (q.prometheus) return { prometheus: { ...q.prometheus, version } };
  return { web: { ...q.web!, version } };
}

export function controlVersion(source: MeasurementSource): 'stable' | 'baseline' {
  return source.hasBaseline?.() ? 'baseline' : 'stable';
}

export function record(metric: string, window: TimeWindow, r: MetricResult, phase?: string): MeasurementRecord {
  return {
    metric,
    window,
    outcome: r.kind,
    ...(r.kind === 'value' ? { value: r.value } : { message: r.message }),
    ...(phase ? { phase } : {}),
  };
}

export function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 1000 || (Math.abs(x) < 0.001 && x !== 0)
    ? x.toExponential(2)
    : String(Math.round(x * 1000) / 1000);
}
