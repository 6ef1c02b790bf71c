/**
 * The parts of a Rollout resource's status people and tools read: the printer columns
 * (phase, weight, step) and the standard conditions — Progressing, Paused, Degraded,
 * Healthy, Completed — that `kubectl wait --for=condition=Completed` and dashboards use.
 */
import type { Phase, RolloutStatus } from '../rollout/types.js';

export interface Condition {
  type: 'Progressing' | 'Paused' | 'Degraded' | 'Healthy' | 'Completed';
  status: 'True' | 'False';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export interface RolloutConditions {
  conditions: Condition[];
}

const MOVING: readonly Phase[] = [
  'CanaryDeploy',
  'SmallTraffic',
  'Monitor',
  'IncreaseTraffic',
  'FullDeploy',
  'Rollback',
];

/**
 * The printer columns. `step` reads as Argo Rollouts' column does: the step being carried out
 * of the plan's (`3/8`; `8/8` once all are done), and `-` between releases.
 */
export function summaryOf(
  s: RolloutStatus,
  steps?: number,
): { phase: string; weight: number; step: string; message: string } {
  const releasing = s.canary !== undefined;
  const step = !releasing ? '-' : steps === undefined ? String(s.step) : `${Math.min(s.step + 1, steps)}/${steps}`;
  return { phase: s.phase, weight: s.traffic.weights.canary, step, message: s.message };
}

/** How many steps the rollout's plan has (the engine's document), for the Step column. */
export function stepsOf(document: unknown): number | undefined {
  const steps = (document as { spec?: { strategy?: { canary?: { steps?: unknown } } } } | undefined)?.spec?.strategy
    ?.canary?.steps;
  return Array.isArray(steps) ? steps.length : undefined;
}

/**
 * The conditions of `s`; a condition keeps its `lastTransitionTime` from `previous` while
 * its status does not change, as Kubernetes conventions ask.
 */
export function conditionsOf(s: RolloutStatus, now: string, previous: readonly Condition[] = []): RolloutConditions {
  const outcome = s.result?.outcome;
  const settled = s.phase === 'StableOnly';
  const failed =
    s.phase === 'Degraded' || s.phase === 'Aborted' || (settled && outcome !== undefined && outcome !== 'Promoted');
  const make = (type: Condition['type'], on: boolean, reason: string): Condition => {
    const status = on ? 'True' : 'False';
    const before = previous.find((c) => c.type === type);
    return {
      type,
      status,
      reason,
      message: s.message,
      lastTransitionTime: before && before.status === status ? before.lastTransitionTime : now,
    };
  };
  return {
    conditions: [
      make('Progressing', MOVING.includes(s.phase), s.phase),
      make('Paused', s.phase === 'Paused', s.paused?.reason ?? s.phase),
      make('Degraded', failed, outcome ?? s.phase),
      make('Healthy', settled && !failed, s.phase),
      make('Completed', settled && outcome === 'Promoted', outcome ?? s.phase),
    ],
  };
}

/**
 * The conditions while the operator refuses to start what the resource asks for (a template
 * it cannot use, with a release waiting): Degraded, saying why, whatever the engine's phase.
 */
export function refusedConditions(conditions: readonly Condition[], why: string, now: string): Condition[] {
  return conditions.map((c) =>
    c.type !== 'Degraded'
      ? c
      : {
          ...c,
          status: 'True',
          reason: 'Refused',
          message: why,
          lastTransitionTime: c.status === 'True' ? c.lastTransitionTime : now,
        },
  );
}
