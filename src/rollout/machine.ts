/**
 * The rollout state machine: (spec, status, event) → (status, actions). No I/O, no clock.
 *
 * The status says what should be true — which instances run, what the data plane does,
 * which analyses run — and the engine makes it so and reports back with events
 * (`instanceReady`, `trafficApplied` with the sequence number it applied, verdicts). The
 * machine moves on only when the world has caught up, so a restarted controller just
 * makes the saved status true again and carries on.
 *
 *   StableOnly → CanaryDeploy → SmallTraffic → Monitor ⇄ IncreaseTraffic → FullDeploy → StableOnly
 *   any of those → Rollback → StableOnly (Aborted when a person or a deadline stopped it);
 *   Degraded while a rollback cannot move traffic; Paused by a person, a `pause: {}` step
 *   or an Inconclusive analysis.
 */
import type { RolloutSpec } from '../config/schemas/rollout.js';
import { inconclusiveEntries, stoppedEntries } from './machine/analyses.js';
import { stableOnly } from './machine/capacity.js';
import { apply } from './machine/events.js';
import { gated } from './machine/gates.js';
import { advancePromotion } from './machine/promotion.js';
import { advanceRollback } from './machine/rollback.js';
import { enterStep, nextStep, pauseFor, stepDone } from './machine/steps.js';
import type { Release, RolloutAction, RolloutEvent, RolloutStatus, Transition } from './types.js';

export function initialStatus(spec: RolloutSpec, at: number): RolloutStatus {
  const stable: Release = { version: spec.stable.version ?? 'stable', target: spec.stable };
  return {
    phase: 'StableOnly',
    revision: 0,
    stable,
    step: 0,
    instances: [{ id: stable.version, release: stable }],
    ready: [],
    stopping: [],
    traffic: stableOnly(stable.version),
    trafficSeq: 1,
    appliedSeq: 0,
    analyses: [],
    message: `${stable.version} serves everyone`,
    updatedAt: at,
  };
}

export function transition(spec: RolloutSpec, status: RolloutStatus, event: RolloutEvent): Transition {
  const s = structuredClone(status);
  const out: RolloutAction[] = [];
  const refusal = apply(spec, s, event, out);
  if (refusal !== undefined) return { status, actions: [], rejected: refusal };
  settle(spec, s, event.at, out);
  s.updatedAt = event.at;
  return { status: s, actions: out };
}

/** Carries the rollout forward as far as the world allows right now. */
function settle(spec: RolloutSpec, s: RolloutStatus, at: number, out: RolloutAction[]): void {
  for (let guard = 0; guard < 1000; guard++) {
    if (!advance(spec, s, at, out)) return;
  }
  throw new Error('rollout machine did not settle');
}

function advance(spec: RolloutSpec, s: RolloutStatus, at: number, out: RolloutAction[]): boolean {
  const settled = s.appliedSeq === s.trafficSeq;
  switch (s.phase) {
    case 'CanaryDeploy': {
      if (s.gate) return false;
      const id = s.canary!.version;
      if (s.instances.some((i) => i.id === id) && !s.ready.includes(id)) return false;
      s.step = 0;
      if (gated(spec, s, 'pre-rollout', at)) return false;
      enterStep(spec, s, at, out);
      return true;
    }
    case 'SmallTraffic':
    case 'IncreaseTraffic':
    case 'Monitor': {
      if (s.gate) return false;
      const stuck = inconclusiveEntries(spec, s)[0];
      if (stuck) {
        pauseFor(s, 'inconclusive', at, `analysis ${stuck.template} is Inconclusive: ${stuck.reason}`, stuck.scope);
        s.message = `${s.paused!.message}; \`kanari resume\` runs it again, \`kanari promote\` accepts it, \`kanari abort\` rolls back`;
        out.push({ type: 'announce', moment: 'event', message: s.message });
        return false;
      }
      const stopped = stoppedEntries(spec, s)[0];
      if (stopped) {
        pauseFor(s, 'stopped', at, `analysis ${stopped.template} was ${stopped.reason}`, stopped.scope);
        s.message = `${s.paused!.message}; \`kanari resume\` runs it again, \`kanari abort\` rolls back`;
        out.push({ type: 'announce', moment: 'event', message: s.message });
        return false;
      }
      if (!stepDone(spec, s, at)) return false;
      nextStep(spec, s, at, out);
      return true;
    }
    case 'FullDeploy':
      return advancePromotion(spec, s, at, out, settled);
    case 'Rollback':
    case 'Degraded':
      return advanceRollback(s, at, out, settled);
    default:
      return false;
  }
}
