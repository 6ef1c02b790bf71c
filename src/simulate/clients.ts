/**
 * Heavy clients — bots, batch jobs, retrying clients, bursts — simulated one by one: each
 * is one stickiness key in one bucket, so all it sends goes to one version, with its own
 * error rate when it has one, and it counts as a key once per kind of event.
 */
import type { SimulationSpec } from '../config/schemas/simulation.js';
import type { Random } from '../analysis/stats/random.js';
import { armOf, BUCKETS, type Arm, type BucketSplit } from './buckets.js';
import type { ArmKeys } from './population.js';
import { slowerThan, type VersionBehaviour } from './traffic.js';

type Traffic = SimulationSpec['traffic'];
export type ClientSpec = NonNullable<Traffic['clients']>[number];

/** What one client sent in one second. */
export interface ClientSecond {
  arm: Arm;
  requests: number;
  errors: number;
  latency: VersionBehaviour['latency'];
  /** Requests the canary treated worse than stable would have (its `canary` behaviour), and the errors that added on average. */
  regressed: { requests: number; extraErrors: number };
}

/** When a client sends, in whole seconds since the deploy. */
interface Activity {
  every: number;
  for: number;
  offset: number;
}

export class HeavyClient {
  private bucket: number | undefined;
  private activation = -1;
  private seen = false;
  private failed = false;
  /** Per tracked threshold: whether it has been slower than it. */
  private readonly slow = new Map<number, boolean>();
  /** Requests sent per latency (median/sigma), before this second. */
  private readonly exposure = new Map<string, { latency: VersionBehaviour['latency']; requests: number }>();
  private sent: { requests: number; arm: Arm; latency: VersionBehaviour['latency'] } | undefined;

  constructor(
    private readonly spec: Pick<ClientSpec, 'rate' | 'errorRate' | 'bucket' | 'canary'> & {
      /** In seconds. */
      latency?: VersionBehaviour['latency'];
    },
    private readonly activity: Activity | undefined,
    /** Each activation is a new client (a new key in a fresh bucket). */
    private readonly fresh: boolean,
    private readonly random: Random,
  ) {}

  static of(spec: ClientSpec, random: Random): HeavyClient {
    const a = spec.active;
    const activity = a && { every: a.every / 1000, for: a.for / 1000, offset: a.offset / 1000 };
    const latency = spec.latency && { median: spec.latency.median / 1000, sigma: spec.latency.sigma };
    return new HeavyClient({ ...spec, latency }, activity, false, random);
  }

  /** A burst every `every` from the first one on, `duration` long: one client each time (`new`) or the same one. */
  static burst(b: NonNullable<Traffic['bursts']>, random: Random): HeavyClient {
    const every = Math.round(b.every / 1000);
    const activity = { every, for: Math.round(b.duration / 1000), offset: every };
    return new HeavyClient({ ...b, bucket: 'random' }, activity, b.client !== 'same', random);
  }

  /** Forgets what it did: the key tracker started empty. */
  reset(): void {
    this.seen = this.failed = false;
    this.slow.clear();
    this.exposure.clear();
    this.sent = undefined;
  }

  second(
    t: number,
    split: BucketSplit,
    behaviours: Record<Arm, VersionBehaviour>,
    keys: Record<Arm, ArmKeys>,
  ): ClientSecond | undefined {
    this.closeSecond();
    const activation = this.activationAt(t);
    if (activation === undefined) return undefined;
    if (activation !== this.activation) {
      if (this.fresh || this.bucket === undefined) this.bucket = this.bucketOf();
      if (this.fresh) this.reset();
      this.activation = activation;
    }
    const { random, spec } = this;
    const arm = armOf(this.bucket!, split);
    const requests = random.poisson(spec.rate);
    const own = spec.errorRate ?? behaviours[arm].errorRate;
    const rate = arm === 'canary' && spec.canary ? spec.canary.errorRate : own;
    const errors = random.binomial(requests, rate);
    if (requests > 0 && !this.seen) {
      this.seen = true;
      keys[arm].seen++;
    }
    if (errors > 0 && !this.failed) {
      this.failed = true;
      keys[arm].failed++;
    }
    const latency = spec.latency ?? behaviours[arm].latency;
    this.sent = { requests, arm, latency };
    for (const threshold of this.slow.keys()) this.stepSlow(threshold, keys);
    const regressed = rate > own ? requests : 0;
    return {
      arm,
      requests,
      errors,
      latency,
      regressed: { requests: regressed, extraErrors: regressed * (rate - own) },
    };
  }

  /** Starts tracking whether it has been slower than `t`: before this second, and in it. */
  track(t: number, keys: Record<Arm, ArmKeys>): void {
    if (this.slow.has(t)) return;
    let fast = 1;
    for (const e of this.exposure.values()) fast *= (1 - slowerThan(t, e.latency)) ** e.requests;
    this.slow.set(t, this.random.uniform() >= fast);
    this.stepSlow(t, keys);
  }

  private stepSlow(t: number, keys: Record<Arm, ArmKeys>): void {
    const s = this.sent;
    if (this.slow.get(t) || !s || s.requests === 0) return;
    if (this.random.uniform() < 1 - (1 - slowerThan(t, s.latency)) ** s.requests) {
      this.slow.set(t, true);
      keys[s.arm].slow.set(t, (keys[s.arm].slow.get(t) ?? 0) + 1);
    }
  }

  private closeSecond(): void {
    const s = this.sent;
    if (!s) return;
    const key = `${s.latency.median}/${s.latency.sigma}`;
    const e = this.exposure.get(key) ?? { latency: s.latency, requests: 0 };
    e.requests += s.requests;
    this.exposure.set(key, e);
    this.sent = undefined;
  }

  /** Which activation second `t` falls in (0 for an always-active client); undefined when it is idle. */
  private activationAt(t: number): number | undefined {
    const a = this.activity;
    if (!a) return 0;
    if (t < a.offset || (t - a.offset) % a.every >= a.for) return undefined;
    return Math.floor((t - a.offset) / a.every);
  }

  private bucketOf(): number {
    const b = this.spec.bucket;
    return b === 'random' ? Math.min(BUCKETS - 1, Math.floor(this.random.uniform() * BUCKETS)) : b;
  }
}

/** The clients the canary treats worse than stable does (at `stable` errors, for those with no rate of their own). */
export function regressingClients(traffic: Traffic, stable: number): ClientSpec[] {
  return (traffic.clients ?? []).filter((c) => c.canary !== undefined && c.canary.errorRate > (c.errorRate ?? stable));
}
