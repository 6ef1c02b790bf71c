/**
 * A running analysis's state as the Rollout's status keeps it (`status.runs`, written by
 * kubernetes.ts): compacted to what its judge needs to go on and bounded, so a status
 * written every 10 s stays small and shows people who may only view the Rollout nothing a
 * template's query returned; and read back checked, as a person may have edited it. Pure,
 * and apart from the status store, whose concern is writing and fencing the status.
 */
import type { AnalysisRunState } from '../analysis/run.js';

/** The most one run's state may take in the status (an object is at most 1.5 MB in etcd, and the status is written every 10 s). */
export const RUN_STATE_BUDGET = 64 * 1024;

/**
 * A run's state as the status keeps it: without its measurements, and a threshold metric's
 * past measurements cut to when they were taken, their phase and whether they had a value
 * (what the judge counts). Values and messages stay out: a template's query may read what
 * people who can only view the Rollout must not see. Undefined once it outgrows the budget
 * (a threshold template measuring for days).
 */
export function compactRun(state: AnalysisRunState): AnalysisRunState | undefined {
  const threshold = state.threshold?.map((t) => ({
    ...t,
    measurements: t.measurements.map((m) => ({
      at: m.at,
      phase: m.phase,
      ...(m.value !== undefined ? { value: 0 } : {}),
      ...(m.unreachable ? { unreachable: true as const } : {}),
    })),
  }));
  const kept: AnalysisRunState = { ...structuredClone(state), measurements: [], ...(threshold ? { threshold } : {}) };
  return JSON.stringify(kept).length <= RUN_STATE_BUDGET ? kept : undefined;
}

/** `status.runs` as read back: only entries shaped like a run's state (a person may have edited it). */
export function savedRuns(runs: unknown): Record<string, AnalysisRunState> {
  if (!runs || typeof runs !== 'object' || Array.isArray(runs)) return {};
  const out: Record<string, AnalysisRunState> = {};
  for (const [id, r] of Object.entries(runs as Record<string, unknown>)) {
    const s = r as Partial<AnalysisRunState> | null;
    if (
      s &&
      typeof s === 'object' &&
      typeof s.template === 'string' &&
      typeof s.startedAt === 'number' &&
      typeof s.through === 'number' &&
      isJudgeSpec(s.spec)
    )
      out[id] = { ...(s as AnalysisRunState), measurements: [] };
  }
  return out;
}

/**
 * Whether a saved template spec names a judge with its settings. (Not the schema itself: a
 * parsed spec holds durations in ms, which the schema takes only as text.)
 */
function isJudgeSpec(spec: unknown): boolean {
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) return false;
  const judges = ['sequential', 'threshold', 'kayenta', 'series'].filter(
    (k) => (spec as Record<string, unknown>)[k] !== undefined,
  );
  const settings = judges.map((k) => (spec as Record<string, unknown>)[k]);
  return judges.length === 1 && settings.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v));
}
