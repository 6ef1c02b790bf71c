/** Webhook gates: a rollout that must wait for its webhooks says so in its status, and the engine asks them. */
import type { RolloutSpec } from '../../config/schemas/rollout.js';
import type { GateState, RolloutStatus } from '../types.js';

/**
 * True when `type` webhooks must answer before the rollout goes on: the status then says
 * it waits on them, and the engine asks them each interval.
 */
export function gated(spec: RolloutSpec, s: RolloutStatus, type: GateState['type'], at: number): boolean {
  if (!spec.webhooks.some((w) => w.type === type)) return false;
  if (s.passedGates?.includes(`${type}@${s.step}`)) return false;
  if (s.gate?.type !== type || s.gate.step !== s.step) {
    const names = spec.webhooks
      .filter((w) => w.type === type)
      .map((w) => w.name)
      .join(', ');
    s.gate = { type, step: s.step, since: at, message: `waiting for the ${type} webhook (${names})` };
  }
  s.message = s.gate.message;
  return true;
}
