/**
 * In-memory fakes of the engine's seams, on a virtual clock: no sockets, no processes.
 * Each fake does what its seam promises and lets a test hold the world back (a router
 * that has not caught up, an instance that exits).
 */
import type { TargetSpec } from '../../src/config/schemas/rollout.js';
import type { Clock } from '../../src/rollout/seams/clock.js';
import type {
  DeploymentTarget,
  InstanceRequest,
  Readiness,
  TargetEvents,
  TargetsFactory,
} from '../../src/rollout/seams/targets.js';
import { TrafficUnreachable, type TrafficCapability, type TrafficRouter } from '../../src/rollout/seams/traffic.js';
import type { TrafficState } from '../../src/rollout/types.js';
import { RouterStats } from '../../src/router/stats.js';
import { KeyTracker } from '../../src/router/keys.js';
import { keyLevel } from '../../src/shared/key-stats.js';
import type { StatsSnapshot } from '../../src/shared/stats-snapshot.js';

export const T0 = 1_700_000_000_000;

/** Time that moves only when a test says so; timers fire as it passes them. */
export class VirtualClock implements Clock {
  private t = T0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
  }
}

/**
 * A data plane in memory. `lag` is how many `observe` calls still see the previous state
 * after an apply (a router that has not yet applied a table); `refuse` makes apply fail.
 */
export class FakeTraffic implements TrafficRouter {
  readonly name = 'fake';
  readonly supports: ReadonlySet<TrafficCapability> = new Set(['weights', 'match', 'mirror', 'sticky', 'baseline']);
  served?: TrafficState;
  private pending?: { state: TrafficState; observesLeft: number };
  lag = 0;
  refuse?: Error;
  readonly applied: TrafficState[] = [];
  readonly endpoints: Record<string, string[]> = {};

  apply(desired: TrafficState, endpoints: (id: string) => string[]): Promise<void> {
    if (this.refuse) return Promise.reject(this.refuse);
    this.applied.push(desired);
    for (const id of [desired.stable, desired.canary, desired.baseline]) if (id) this.endpoints[id] = endpoints(id);
    if (JSON.stringify(desired) === JSON.stringify(this.pending?.state ?? this.served)) return Promise.resolve();
    if (this.lag > 0) this.pending = { state: desired, observesLeft: this.lag };
    else this.served = desired;
    return Promise.resolve();
  }

  observe(): Promise<TrafficState | undefined> {
    if (this.refuse) return Promise.reject(new TrafficUnreachable(this.refuse.message));
    if (this.pending && this.pending.observesLeft-- <= 0) {
      this.served = this.pending.state;
      this.pending = undefined;
    }
    return Promise.resolve(this.served);
  }
}

/** Instances in memory: ready at once (or when `hold` is released), resizable, exiting when told. */
export class FakeTarget implements DeploymentTarget {
  readonly kind = 'fake';
  readonly resizes = true;
  readonly running = new Map<string, number>();
  readonly started: string[] = [];
  readonly removed: string[] = [];
  /** Instances whose start fails, with the reason (or the error it fails with). */
  readonly failing = new Map<string, string | Error>();
  private events?: TargetEvents;

  bind(events: TargetEvents): this {
    this.events = events;
    return this;
  }

  accepts(_target: TargetSpec): boolean {
    return true;
  }

  ensure(instance: InstanceRequest): Promise<void> {
    const why = this.failing.get(instance.id);
    if (why) return Promise.reject(typeof why === 'string' ? new Error(why) : why);
    if (!this.running.has(instance.id)) this.started.push(instance.id);
    this.running.set(instance.id, instance.size);
    return Promise.resolve();
  }

  readiness(id: string): Readiness {
    const size = this.running.get(id);
    return size === undefined
      ? { state: 'absent' }
      : { state: 'ready', endpoints: Array.from({ length: size }, (_, i) => `http://${id}.test:${8000 + i}`), size };
  }

  resize(id: string, size: number): Promise<void> {
    if (!this.running.has(id)) return Promise.reject(new Error(`${id} does not run`));
    this.running.set(id, size);
    return Promise.resolve();
  }

  remove(id: string): Promise<void> {
    if (this.running.delete(id)) this.removed.push(id);
    return Promise.resolve();
  }

  stopAll(): Promise<void> {
    for (const id of [...this.running.keys()]) void this.remove(id);
    return Promise.resolve();
  }

  detach(): void {
    this.running.clear();
  }

  /** The instance dies, as a crashed process does. */
  exit(id: string, reason: string): void {
    this.running.delete(id);
    this.events!.exited(id, reason);
  }

  factory(): TargetsFactory {
    return (events) => [this.bind(events)];
  }
}

/**
 * A data plane's counters on the virtual clock: each `second()` sends `perSecond` requests,
 * split as `share()` says (the canary's fraction), failing at the given rates. Requests and
 * failures are spread evenly, not drawn at random, so a test sees the same counts every run.
 * Every request is a user of its own (as from clients that keep no cookie), counted as the
 * router counts users, so the engine's per-user judge has users to count.
 */
export class FakeStats {
  private readonly stats = new RouterStats('svc');
  private readonly users = new KeyTracker(1024);
  private toCanary = 0;
  private failures = { canary: 0, stable: 0 };
  canaryErrorRate = 0;
  stableErrorRate = 0;

  constructor(
    private readonly clock: VirtualClock,
    private readonly share: () => number,
    private readonly perSecond = 200,
  ) {}

  second(): void {
    for (let i = 0; i < this.perSecond; i++) {
      this.toCanary += this.share();
      const version = this.toCanary >= 1 ? 'canary' : 'stable';
      if (version === 'canary') this.toCanary -= 1;
      this.failures[version] += version === 'canary' ? this.canaryErrorRate : this.stableErrorRate;
      const failed = this.failures[version] >= 1;
      if (failed) this.failures[version] -= 1;
      this.stats.started(version);
      this.stats.finished(version, failed ? 503 : 200, 0.01);
      this.users.add(undefined, version, failed, keyLevel(0.01));
    }
  }

  source = (): Promise<StatsSnapshot | undefined> =>
    Promise.resolve(
      this.users.addTo({
        ...this.stats.snapshot(1, { stable: true, canary: true, baseline: false }),
        startedAt: T0,
        time: this.clock.now(),
      }),
    );
}
