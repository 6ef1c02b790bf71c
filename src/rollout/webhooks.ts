/**
 * Gates: webhooks a rollout asks before it goes on. The machine says in the status which
 * gate it waits on; each round the engine asks that gate's webhooks (one request at a
 * time per gate) and hands the answer back as a `webhook` event. While a rollout is in
 * flight the `rollback` webhooks are asked too, and a 2xx from any of them rolls back.
 *
 * Requests are signed like notifications (`X-Kanari-Signature`); the checks
 * (`pre-rollout`, `rollout`) are retried before they count as failed, the confirmations
 * are simply asked again next round.
 */
import type { WebhookSpec } from '../config/schemas/rollout.js';
import { postSigned } from './notify.js';
import type { GateType, RolloutStatus, UntimedEvent } from './types.js';

export interface GatePayload {
  rollout: string;
  gate: GateType;
  webhook: string;
  phase: RolloutStatus['phase'];
  revision: number;
  stable: string;
  canary?: string;
  /** The step the gate guards, counted from 1. */
  step: number;
  weights: { canary: number; baseline: number };
  metadata: Record<string, string>;
  at: string;
}

const ROLLBACK_ASKED_IN: ReadonlySet<RolloutStatus['phase']> = new Set([
  'CanaryDeploy',
  'SmallTraffic',
  'Monitor',
  'IncreaseTraffic',
  'Paused',
]);

export class Gates {
  private readonly asking = new Set<GateType>();

  constructor(
    private readonly rollout: string,
    private readonly hooks: readonly WebhookSpec[],
    private readonly answer: (e: UntimedEvent) => void,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** Asks whatever the status waits on; returns at once, the answer arrives as an event. */
  poll(s: RolloutStatus, at: number): void {
    if (s.gate && s.phase !== 'Paused') this.ask(s.gate.type, s.gate.step, s, at);
    if (ROLLBACK_ASKED_IN.has(s.phase)) this.ask('rollback', s.step, s, at);
  }

  private ask(gate: GateType, step: number, s: RolloutStatus, at: number): void {
    const hooks = this.hooks.filter((h) => h.type === gate);
    if (hooks.length === 0 || this.asking.has(gate)) return;
    this.asking.add(gate);
    const check = gate === 'pre-rollout' || gate === 'rollout';
    const asked = hooks.map(async (h) => {
      const body: GatePayload = {
        rollout: this.rollout,
        gate,
        webhook: h.name,
        phase: s.phase,
        revision: s.revision,
        stable: s.stable.version,
        ...(s.canary ? { canary: s.canary.version } : {}),
        step: step + 1,
        weights: s.traffic.weights,
        metadata: h.metadata,
        at: new Date(at).toISOString(),
      };
      const failed = await postSigned({ ...h, retries: check ? h.retries : 0 }, JSON.stringify(body), gate, this.env);
      return failed === undefined ? { name: h.name } : { name: h.name, failed };
    });
    void Promise.all(asked)
      .then((answers) => {
        const no = answers.filter((a) => a.failed !== undefined);
        if (gate === 'rollback') {
          const yes = answers.filter((a) => a.failed === undefined).map((a) => a.name);
          if (yes.length > 0)
            this.answer({ type: 'webhook', gate, step, passed: true, reason: `${yes.join(', ')} answered 2xx` });
          return;
        }
        const reason =
          no.length > 0
            ? no.map((a) => `${a.name} ${a.failed}`).join('; ')
            : `${answers.map((a) => a.name).join(', ')} answered 2xx`;
        this.answer({ type: 'webhook', gate, step, passed: no.length === 0, reason });
      })
      .finally(() => this.asking.delete(gate));
  }
}
