/**
 * set-weight: a person steering by hand holds the canary at a weight. The hold is a pause
 * with a weight of its own, so automatic steps stop while analyses go on judging (and a
 * Failed one still rolls back: a hold moves users, it does not vouch for the canary).
 */
import type { RolloutSpec } from '../../config/schemas/rollout.js';
import { planOf } from '../strategies/index.js';
import { baselineWeight, setTraffic } from './capacity.js';
import { IN_FLIGHT } from './phases.js';
import { pauseFor } from './steps.js';
import type { RolloutStatus } from '../types.js';

export function hold(
  spec: RolloutSpec,
  s: RolloutStatus,
  weight: number,
  reason: string | undefined,
  at: number,
): string | undefined {
  if (!IN_FLIGHT.has(s.phase)) return s.rollback ? 'a rollback is under way' : 'no rollout is in progress';
  const kind = planOf(spec, s.pools).kind;
  if (kind !== 'canary')
    return `set-weight steers a canary's weights; a ${kind} rollout moves users by its own steps (promote or abort it)`;
  if (s.phase === 'FullDeploy') return 'already promoting';
  const canary = s.canary!.version;
  if (s.phase === 'CanaryDeploy' || !s.ready.includes(canary)) return `${canary} is not ready yet`;
  if (s.gate) return `${s.gate.message}; hold once it has answered`;
  const p = s.paused;
  if (p && !p.hold && p.reason !== 'manual' && p.reason !== 'step')
    return `${p.message}: that asks for a decision first (resume, promote or abort)`;
  if (!p) pauseFor(s, 'manual', at, 'held by a person');
  const paused = s.paused!;
  // The plan's weights from before the first hold: moving a hold does not change where resume goes back to.
  paused.hold = { weight, planWeights: paused.hold?.planWeights ?? { ...s.traffic.weights } };
  setTraffic(s, {
    ...s.traffic,
    canary,
    weights: { canary: weight, baseline: s.traffic.baseline ? baselineWeight(weight) : 0 },
  });
  s.message = `held at ${weight}% by hand${reason ? `: ${reason}` : ''}; \`kanari resume\` goes back to step ${s.step + 1} of the plan`;
  return undefined;
}

/** Gives the plan its weights back (resume, promote); what comes next sets its own. */
export function releaseHold(s: RolloutStatus): void {
  const h = s.paused?.hold;
  if (!h) return;
  delete s.paused!.hold;
  setTraffic(s, { ...s.traffic, weights: { ...h.planWeights } });
}
