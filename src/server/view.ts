/**
 * What the API says about a rollout and what `kanari status` draws: the saved status with
 * the plan laid out, the time left and the verdicts, in plain JSON.
 */
import type { AnalysisReport } from '../analysis/run.js';
import type { RolloutDocument } from '../config/schemas/rollout.js';
import { describeStep } from '../rollout/strategies/describe.js';
import { planOf } from '../rollout/strategies/index.js';
import type { Phase, RolloutStatus } from '../rollout/types.js';
import type { RouterHealth } from '../traffic/router-process.js';

export interface StepView {
  index: number;
  text: string;
  state: 'done' | 'current' | 'next';
}

export interface AnalysisView {
  id: string;
  template: string;
  scope: 'step' | 'background';
  step: number;
  verdict: string;
  reason?: string;
  /** 0–100, higher is better (see AnalysisReport.score). */
  score?: number;
  measurements?: number;
  startedAt: number;
  endedAt?: number;
}

export interface RolloutView {
  name: string;
  phase: Phase;
  revision: number;
  stable: string;
  canary?: string;
  /** Percent of users each version gets now (stable's share after a switch is 100). */
  weights: { stable: number; canary: number; baseline: number };
  listen: string;
  step: number;
  steps: StepView[];
  /** Milliseconds left of a timed pause step (kept while a person has paused on top of it). */
  pauseLeft?: number;
  /** `held`: the canary weight a person holds the rollout at (set-weight). */
  paused?: { reason: string; message: string; held?: number };
  /** The webhook gate the rollout waits on, with its last answer. */
  gate?: { type: string; since: number; message: string };
  analyses: AnalysisView[];
  message: string;
  result?: { outcome: string; version: string; reason: string; at: number };
  /** Whether the rollout's router serves its users (absent before it was first started). */
  router?: RouterHealth;
  /** Present while the controller cannot save the rollout's state (users can still be taken off versions). */
  store?: { error: string; since: number };
  updatedAt: number;
}

/** How the world the rollout acts on is doing: its router, and the controller's store. */
export interface Health {
  router?: RouterHealth;
  store?: { error: string; since: number };
}

export function rolloutView(
  doc: RolloutDocument,
  s: RolloutStatus,
  now: number,
  report: (id: string) => AnalysisReport | undefined,
  health: Health = {},
): RolloutView {
  const steps = planOf(doc.spec, s.pools).steps;
  const live = s.canary !== undefined;
  const { canary, baseline } = s.traffic.weights;
  const listen = doc.spec.listen;
  return {
    name: doc.metadata.name,
    phase: s.phase,
    revision: s.revision,
    stable: s.stable.version,
    ...(s.canary ? { canary: s.canary.version } : {}),
    weights: { stable: round2(100 - canary - baseline), canary, baseline },
    listen: `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`,
    step: s.step,
    steps: steps.map((step, index) => ({
      index,
      text: describeStep(step),
      state: !live ? 'next' : index < s.step ? 'done' : index === s.step ? 'current' : 'next',
    })),
    ...pauseLeft(s, now),
    ...(s.paused
      ? {
          paused: {
            reason: s.paused.reason,
            message: s.paused.message,
            ...(s.paused.hold ? { held: s.paused.hold.weight } : {}),
          },
        }
      : {}),
    ...(s.gate ? { gate: { type: s.gate.type, since: s.gate.since, message: s.gate.message } } : {}),
    analyses: s.analyses.map((a) => {
      const r = report(a.id);
      return {
        id: a.id,
        template: a.template,
        scope: a.scope,
        step: a.step,
        // A run that ended with the rollout keeps its last verdict in its report; a Stopped one is Stopped before its report is saved.
        verdict: a.endedAt !== undefined && r && a.verdict !== 'Stopped' ? r.verdict : a.verdict,
        ...((a.reason ?? r?.reason) ? { reason: a.reason ?? r?.reason } : {}),
        ...(r ? { score: r.score, measurements: r.measurements } : {}),
        startedAt: a.startedAt,
        ...(a.endedAt !== undefined ? { endedAt: a.endedAt } : {}),
      };
    }),
    message: s.message,
    ...(s.result
      ? {
          result: {
            outcome: s.result.outcome,
            version: s.result.release.version,
            reason: s.result.reason,
            at: s.result.at,
          },
        }
      : {}),
    ...(health.router ? { router: health.router } : {}),
    ...(health.store ? { store: health.store } : {}),
    updatedAt: s.updatedAt,
  };
}

function pauseLeft(s: RolloutStatus, now: number): { pauseLeft?: number } {
  if (s.paused?.remaining !== undefined) return { pauseLeft: s.paused.remaining };
  if (s.pauseUntil !== undefined) return { pauseLeft: Math.max(0, s.pauseUntil - now) };
  return {};
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
