/**
 * Notifications: what a rollout announces, posted to webhooks. Delivery never holds the
 * rollout up; each message is retried with backoff, and one that never arrives is
 * reported to `onFailure` (the engine writes it to the event log).
 *
 * A signed message carries `X-Kanari-Signature: sha256=<hex HMAC-SHA256 of the body>`
 * keyed with the secret, as GitHub does; `X-Kanari-Delivery` is the same id on every
 * attempt, so a receiver can drop repeats.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NotificationSpec } from '../config/schemas/rollout.js';
import { AnswerTooLarge, readCapped } from '../shared/capped-body.js';
import type { RolloutAction, RolloutStatus } from './types.js';

export interface NotificationPayload {
  rollout: string;
  moment: RolloutAction['moment'];
  message: string;
  phase: RolloutStatus['phase'];
  revision: number;
  stable: string;
  canary?: string;
  weights: { canary: number; baseline: number };
  at: string;
}

export function payloadOf(rollout: string, action: RolloutAction, s: RolloutStatus, at: number): NotificationPayload {
  return {
    rollout,
    moment: action.moment,
    message: action.message,
    phase: s.phase,
    revision: s.revision,
    stable: s.stable.version,
    ...(s.canary ? { canary: s.canary.version } : {}),
    weights: s.traffic.weights,
    at: new Date(at).toISOString(),
  };
}

const ICON: Record<RolloutAction['moment'], string> = {
  'pre-rollout': ':rocket:',
  rollout: ':arrow_forward:',
  'post-rollout': ':white_check_mark:',
  rollback: ':rotating_light:',
  event: ':information_source:',
};

/** The body to post: kanari's JSON, or a Slack incoming-webhook message. */
export function bodyFor(spec: NotificationSpec, p: NotificationPayload): string {
  if (spec.format === 'json') return JSON.stringify(p);
  const versions = p.canary ? `${p.stable} → ${p.canary}` : p.stable;
  return JSON.stringify({
    text: `${ICON[p.moment]} *${p.rollout}* (${versions}): ${p.message}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `${ICON[p.moment]} *${p.rollout}* ${p.moment}: ${p.message}` } },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `${versions} · phase ${p.phase} · canary ${p.weights.canary}% · revision ${p.revision}`,
          },
        ],
      },
    ],
  });
}

export function sign(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export class Notifier {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly specs: readonly NotificationSpec[],
    private readonly onFailure: (url: string, reason: string) => void,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** Posts `p` to every webhook that asked for its moment; returns at once. */
  send(p: NotificationPayload): void {
    for (const spec of this.specs) {
      if (!spec.on.includes(p.moment)) continue;
      const delivery = this.deliver(spec, p).finally(() => this.inFlight.delete(delivery));
      this.inFlight.add(delivery);
    }
  }

  /** Waits for the messages still being delivered (the controller stopping, tests). */
  async drain(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }

  private async deliver(spec: NotificationSpec, p: NotificationPayload): Promise<void> {
    const failed = await postSigned(spec, bodyFor(spec, p), p.moment, this.env);
    if (failed) this.onFailure(spec.url, failed);
  }
}

/**
 * Posts `body` to `target.url`, signed when it names a key, retried with backoff; resolves
 * undefined once a 2xx came back, or why none did. Never sent unsigned when a key is named.
 */
export async function postSigned(
  target: { url: string; secretEnv?: string | undefined; timeout: number; retries: number },
  body: string,
  event: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'kanari',
    'x-kanari-delivery': randomUUID(),
    'x-kanari-event': event,
  };
  if (target.secretEnv) {
    const secret = env[target.secretEnv];
    if (!secret) return `not sent: the signing key ${target.secretEnv} is not set in the controller's environment`;
    headers['x-kanari-signature'] = sign(secret, body);
  }
  let last = '';
  for (let attempt = 0; attempt <= target.retries; attempt++) {
    if (attempt > 0) await sleep(1000 * 2 ** (attempt - 1));
    try {
      const res = await fetch(target.url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(target.timeout),
      });
      // Only the first 200 characters are quoted, so a receiver's long answer is not read whole.
      const text = res.body ? await readCapped(res.body, ANSWER_QUOTED_BYTES).catch(quoteTooLarge) : '';
      if (res.ok) return undefined;
      last = `answered ${res.status}${text.trim() ? `: ${text.trim().slice(0, 200)}` : ''}`;
    } catch (err) {
      last =
        (err as Error).name === 'TimeoutError'
          ? `no answer within ${target.timeout} ms`
          : ((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message);
    }
  }
  return target.retries > 0 ? `${last} (after ${target.retries + 1} attempts)` : last;
}

const ANSWER_QUOTED_BYTES = 64 << 10;

function quoteTooLarge(err: unknown): string {
  if (err instanceof AnswerTooLarge) return `(${err.message})`;
  throw err;
}
