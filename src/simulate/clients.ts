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

/** What a client sent in one second, and the new keys that second reported. */
interface Sent {
  requests: number;
  arm: Arm;
  latency: VersionBehaviour['latency'];
  keys: Record<Arm, ArmKeys>;
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
  /** What it sent each second since the key tracker started, with the new keys that second reported: a threshold asked later is drawn over them. */
  private sent: Sent[] = [];
  /** What the keys it had before (a burst's earlier clients) sent since the tracker started. */
  private retired: Sent[][] = [];

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
    this.sent = [];
    this.retired = [];
  }

  /** Becomes a key never seen before; the thresholds tracked stay tracked, and what the old key sent can still be asked of. */
  private renew(): void {
    this.seen = this.failed = false;
    for (const t of this.slow.keys()) this.slow.set(t, false);
    this.retired.push(this.sent);
    this.sent = [];
  }

  second(
    t: number,
    split: BucketSplit,
    behaviours: Record<Arm, VersionBehaviour>,
    keys: Record<Arm, ArmKeys>,
  ): ClientSecond | undefined {
    const activation = this.activationAt(t);
    if (activation === undefined) return undefined;
    if (activation !== this.activation) {
      if (this.fresh || this.bucket === undefined) this.bucket = this.bucketOf();
      if (this.fresh) this.renew();
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
    if (requests > 0) {
      const sent = { requests, arm, latency, keys };
      this.sent.push(sent);
      for (const threshold of this.slow.keys()) this.stepSlow(threshold, sent);
    }
    const regressed = rate > own ? requests : 0;
    return {
      arm,
      requests,
      errors,
      latency,
      regressed: { requests: regressed, extraErrors: regressed * (rate - own) },
    };
  }

  /** Starts tracking whether it has been slower than `t`: drawn second by second over what it sent since the tracker started. */
  track(t: number): void {
    if (this.slow.has(t)) return;
    for (const sent of this.retired) sent.reduce((slow, s) => slow || this.slowIn(t, s), false);
    this.slow.set(t, false);
    for (const sent of this.sent) this.stepSlow(t, sent);
  }

  private stepSlow(t: number, s: Sent): void {
    if (!this.slow.get(t) && this.slowIn(t, s)) this.slow.set(t, true);
  }

  /** Whether a key not yet slower than `t` is in second `s`, counted there if so. */
  private slowIn(t: number, s: Sent): boolean {
    if (this.random.uniform() >= 1 - (1 - slowerThan(t, s.latency)) ** s.requests) return false;
    s.keys[s.arm].slow.set(t, (s.keys[s.arm].slow.get(t) ?? 0) + 1);
    return true;
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
