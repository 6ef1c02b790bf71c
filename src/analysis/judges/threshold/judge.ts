/**
 * The threshold judge: Argo Rollouts' / Flagger's measurement rules as a pure reducer.
 * A metric is measured every `interval`, `count` times, after `initialDelay`; each
 * measurement is judged by its conditions; the metric fails once failures exceed
 * `failureLimit`, is inconclusive once inconclusive results exceed `inconclusiveLimit`,
 * and errs after more than `consecutiveErrorLimit` errors in a row — unless every one of
 * those errors was the source not answering at all (refused, timed out): then the metric
 * is Inconclusive, because an outage of Prometheus says nothing about the canary, and a
 * rollout should pause on it rather than promote or roll back.
 */
import { compile, type Expression, type Value } from '../../../config/expression.js';
import type { ThresholdMetric } from '../../../config/schemas/analysis.js';

export type MeasurementPhase = 'Successful' | 'Failed' | 'Inconclusive' | 'Error';
export type MetricPhase = MeasurementPhase | 'Running';

export interface ThresholdSettings {
  successCondition?: string;
  failureCondition?: string;
  /** Seconds between measurements; absent means a single measurement. */
  interval?: number;
  count?: number;
  initialDelay: number;
  failureLimit: number;
  inconclusiveLimit: number;
  consecutiveErrorLimit: number;
  /** Measurements with a value (not empty, not an error) a pass needs; it measures past `count` until it has them. Default 1. */
  minMeasurements?: number;
  dryRun: boolean;
}

export const THRESHOLD_DEFAULTS = {
  initialDelay: 0,
  failureLimit: 0,
  inconclusiveLimit: 0,
  consecutiveErrorLimit: 4,
  dryRun: false,
} as const;

/** What a provider returned for one measurement: a value, nothing, a failure or no answer in time — never a silent zero. */
export type Outcome =
  | { kind: 'value'; value: Value }
  | { kind: 'empty'; message: string }
  | { kind: 'error'; message: string; unreachable?: true }
  | { kind: 'timeout'; message: string };

export interface Measurement {
  at: number;
  phase: MeasurementPhase;
  value?: Value;
  message?: string;
  /** An Error because the source gave no answer at all. */
  unreachable?: true;
}

export interface ThresholdState {
  measurements: Measurement[];
  failed: number;
  inconclusive: number;
  errors: number;
  consecutiveErrors: number;
  /** Of the consecutive errors, how many were the source not answering (absent in older saved states). */
  consecutiveUnreachable?: number;
}

export const emptyState = (): ThresholdState => ({
  measurements: [],
  failed: 0,
  inconclusive: 0,
  errors: 0,
  consecutiveErrors: 0,
  consecutiveUnreachable: 0,
});

export interface CompiledConditions {
  success?: Expression;
  failure?: Expression;
}

export function compileConditions(
  settings: Pick<ThresholdSettings, 'successCondition' | 'failureCondition'>,
): CompiledConditions {
  return {
    ...(settings.successCondition ? { success: compile(settings.successCondition) } : {}),
    ...(settings.failureCondition ? { failure: compile(settings.failureCondition) } : {}),
  };
}

/** Judges one value: without a failure condition, not meeting success is failure (and the reverse). */
export function judgeValue(conditions: CompiledConditions, scope: Record<string, Value>): MeasurementPhase {
  const { success, failure } = conditions;
  if (!success && !failure) return 'Successful';
  let ok = success ? success.evaluate(scope) === true : false;
  let bad = failure ? failure.evaluate(scope) === true : false;
  if (success && !failure) bad = !ok;
  if (!success && failure) ok = !bad;
  if (bad) return 'Failed';
  return ok ? 'Successful' : 'Inconclusive';
}

/** Folds one provider outcome into the metric's state. `scope` gets `result` added. */
export function recordOutcome(
  state: ThresholdState,
  conditions: CompiledConditions,
  outcome: Outcome,
  at: number,
  scope: Record<string, Value> = {},
): ThresholdState {
  let m: Measurement;
  if (outcome.kind === 'timeout') m = { at, phase: 'Error', message: `timeout: ${outcome.message}`, unreachable: true };
  else if (outcome.kind === 'error')
    m = {
      at,
      phase: 'Error',
      message: outcome.message,
      ...(outcome.unreachable ? { unreachable: true as const } : {}),
    };
  else if (outcome.kind === 'empty') m = { at, phase: 'Inconclusive', message: outcome.message };
  else {
    try {
      m = { at, phase: judgeValue(conditions, { ...scope, result: outcome.value }), value: outcome.value };
    } catch (err) {
      m = { at, phase: 'Error', value: outcome.value, message: (err as Error).message };
    }
  }
  return {
    measurements: [...state.measurements, m],
    failed: state.failed + (m.phase === 'Failed' ? 1 : 0),
    inconclusive: state.inconclusive + (m.phase === 'Inconclusive' ? 1 : 0),
    errors: state.errors + (m.phase === 'Error' ? 1 : 0),
    consecutiveErrors: m.phase === 'Error' ? state.consecutiveErrors + 1 : 0,
    consecutiveUnreachable: m.unreachable ? (state.consecutiveUnreachable ?? 0) + 1 : 0,
  };
}

export function metricPhase(settings: ThresholdSettings, state: ThresholdState): MetricPhase {
  if (state.failed > settings.failureLimit) return 'Failed';
  if (state.consecutiveErrors > settings.consecutiveErrorLimit)
    return state.consecutiveUnreachable === state.consecutiveErrors ? 'Inconclusive' : 'Error';
  if (state.inconclusive > settings.inconclusiveLimit) return 'Inconclusive';
  return scheduleDone(settings, state) && missingValues(settings, state) === 0 ? 'Successful' : 'Running';
}

/** Whether the metric has taken the measurements its schedule asks for (`count`, or one without an interval). */
export function scheduleDone(settings: ThresholdSettings, state: ThresholdState): boolean {
  const wanted = settings.count ?? (settings.interval === undefined ? 1 : Infinity);
  return state.measurements.filter((m) => m.phase !== 'Error').length >= wanted;
}

/** How many more measurements with a value a pass needs (`minMeasurements`): empty results are not data. */
export function missingValues(settings: ThresholdSettings, state: ThresholdState): number {
  const valued = state.measurements.filter((m) => m.value !== undefined && m.phase !== 'Error').length;
  return Math.max(0, (settings.minMeasurements ?? 1) - valued);
}

/** When the next measurement is due, in seconds from the run's start; undefined when none is. */
export function nextMeasurementAt(settings: ThresholdSettings, state: ThresholdState): number | undefined {
  if (metricPhase(settings, state) !== 'Running') return undefined;
  const last = state.measurements.at(-1);
  if (!last) return settings.initialDelay;
  return last.at + (settings.interval ?? 0);
}

/**
 * When the next measurement is due, in seconds from the run's start. Unlike Argo, the
 * first waits for a whole `interval` too (or `initialDelay`, whichever is later): a
 * measurement covers the time since the previous one, and at the start there is none.
 */
export function measurementDueAt(settings: ThresholdSettings, state: ThresholdState): number | undefined {
  const next = nextMeasurementAt(settings, state);
  if (next === undefined || state.measurements.length > 0) return next;
  return Math.max(next, settings.interval ?? 0);
}

/** A template's threshold metric as the judge takes it: the file's durations are milliseconds, the judge counts seconds. */
export function thresholdSettings(metric: ThresholdMetric): ThresholdSettings {
  return {
    ...(metric.successCondition ? { successCondition: metric.successCondition } : {}),
    ...(metric.failureCondition ? { failureCondition: metric.failureCondition } : {}),
    ...(metric.interval !== undefined ? { interval: metric.interval / 1000 } : {}),
    ...(metric.count !== undefined ? { count: metric.count } : {}),
    initialDelay: metric.initialDelay / 1000,
    failureLimit: metric.failureLimit,
    inconclusiveLimit: metric.inconclusiveLimit,
    consecutiveErrorLimit: metric.consecutiveErrorLimit,
    minMeasurements: metric.minMeasurements,
    dryRun: metric.dryRun,
  };
}

const SEVERITY: Record<MetricPhase, number> = { Successful: 0, Running: 1, Inconclusive: 2, Error: 3, Failed: 4 };

/** The run's phase: its worst metric, ignoring dry-run ones. Running while any metric runs and none has failed. */
export function overallPhase(phases: { phase: MetricPhase; dryRun: boolean }[]): MetricPhase {
  const counted = phases.filter((p) => !p.dryRun).map((p) => p.phase);
  if (counted.includes('Failed')) return 'Failed';
  if (counted.includes('Error')) return 'Error';
  if (counted.includes('Running')) return 'Running';
  return counted.reduce<MetricPhase>((worst, p) => (SEVERITY[p] > SEVERITY[worst] ? p : worst), 'Successful');
}
