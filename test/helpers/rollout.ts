import { rolloutSpec, type RolloutSpec } from '../../src/config/schemas/rollout.js';
import { initialStatus, transition } from '../../src/rollout/machine.js';
import type { Release, RolloutEvent, RolloutStatus, UntimedEvent } from '../../src/rollout/types.js';

type Input = Parameters<typeof rolloutSpec.parse>[0];

export function spec(steps: unknown[], extra: Record<string, unknown> = {}): RolloutSpec {
  return rolloutSpec.parse({
    listen: 0,
    stable: { version: 'v1', upstreams: ['http://127.0.0.1:9001'] },
    canary: { upstreams: ['http://127.0.0.1:9002'] },
    strategy: { canary: { steps, ...(extra.analysis ? { analysis: extra.analysis } : {}) } },
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'analysis')),
  } as Input);
}

/** A spec with any strategy (and anything else) as given; versions as in `spec`. */
export function specWith(extra: Record<string, unknown>): RolloutSpec {
  return rolloutSpec.parse({
    listen: 0,
    stable: { version: 'v1', upstreams: ['http://127.0.0.1:9001'] },
    canary: { upstreams: ['http://127.0.0.1:9002'] },
    ...extra,
  } as Input);
}

/** A process target of `instances` processes, for rolling updates. */
export function pool(version: string, instances: number): Release {
  return {
    version,
    target: {
      version,
      process: {
        command: 'true',
        port: 0,
        instances,
        env: {},
        readiness: '/healthz',
        startTimeout: 30_000,
        stopTimeout: 10_000,
      },
      size: instances,
    } as never,
  };
}

export const v2: Release = {
  version: 'v2',
  target: { upstreams: ['http://127.0.0.1:9002'], version: undefined, size: 1 } as never,
};

/** Drives the machine the way the engine does, with an explicit clock. */
export class Driver {
  status: RolloutStatus;
  now = 1_000_000;
  rejected: string | undefined;
  readonly announcements: string[] = [];

  constructor(readonly spec: RolloutSpec) {
    this.status = initialStatus(spec, this.now);
  }

  send(e: UntimedEvent): this {
    const t = transition(this.spec, this.status, { at: this.now, ...e } as RolloutEvent);
    this.rejected = t.rejected;
    this.status = t.status;
    for (const a of t.actions) this.announcements.push(`${a.moment}: ${a.message}`);
    return this;
  }

  /** Acknowledges whatever the status asks of the world: traffic applied, instances ready, stops done. */
  ack(): this {
    for (let i = 0; i < 20; i++) {
      const s = this.status;
      const pendingReady = s.instances.find((inst) => !s.ready.includes(inst.id));
      if (s.appliedSeq !== s.trafficSeq) this.send({ type: 'trafficApplied', seq: s.trafficSeq });
      else if (pendingReady) this.send({ type: 'instanceReady', id: pendingReady.id });
      else if (s.stopping[0]) this.send({ type: 'instanceStopped', id: s.stopping[0] });
      else return this;
    }
    throw new Error('the world never caught up');
  }

  advance(ms: number): this {
    this.now += ms;
    return this.send({ type: 'tick' }).ack();
  }

  running(): string[] {
    return this.status.analyses.filter((a) => a.endedAt === undefined).map((a) => a.id);
  }
}
