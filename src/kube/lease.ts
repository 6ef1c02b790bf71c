/**
 * Leader election on a `coordination.k8s.io/v1` Lease, as client-go does it: the holder
 * renews the Lease every `retryPeriod`; another replica takes it only once it has seen the
 * Lease unchanged for a whole `leaseDuration` on its *own* clock (no replica trusts
 * another's clock), and every write carries the resourceVersion it read, so two replicas
 * racing for it cannot both win.
 *
 * A leader that cannot renew for `renewDeadline` (shorter than `leaseDuration`) stops
 * leading before anyone else may start. `holds()` is what every write of the operator asks
 * first (`fencedClient`): a leader paused (SIGSTOP) past its lease resumes believing
 * nothing, because its last renewal is too old by its own clock, and writes nothing.
 */
import {
  KubeConflict,
  KubeError,
  type KubeClient,
  type KubeObject,
  type ObjectRef,
  type PatchOptions,
  type PatchType,
} from './api.js';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export type LeaseObject = KubeObject & { spec?: LeaseSpec };

export interface ElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  /** This replica, as written in `holderIdentity` (the pod name and a random suffix). */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  now?: () => number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  log?: (line: string) => void;
}

/** Kubernetes writes lease times as MicroTime: RFC 3339 with microseconds. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElection {
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly now: () => number;
  /** The Lease as last read, and when (on our clock) it last changed. */
  private observed?: { record: string; at: number };
  /** When we last renewed successfully; leading while that is within `renewDeadline`. */
  private renewedAt?: number;
  private leading = false;
  /** The Lease's `leaseTransitions` when this replica took it: the term it leads in. */
  private leadsIn?: number;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** Whether the last attempt reached the API server (what a readiness probe asks). */
  reachable = false;

  constructor(private readonly o: ElectionOptions) {
    this.leaseMs = o.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = o.renewDeadlineMs ?? 10_000;
    this.retryMs = o.retryPeriodMs ?? 2_000;
    if (!(this.retryMs < this.renewDeadlineMs && this.renewDeadlineMs < this.leaseMs))
      throw new Error('leader election needs retryPeriod < renewDeadline < leaseDuration');
    this.now = o.now ?? Date.now;
  }

  /**
   * The term this replica leads in while it does (the Lease's `leaseTransitions`, raised at
   * every change of holder): what its writes are stamped with, so a later leader's are told
   * from an earlier one's however the replicas' clocks and requests interleave.
   */
  get term(): number | undefined {
    return this.leading ? this.leadsIn : undefined;
  }

  /** True while this replica leads: its last renewal is younger than the renew deadline, by its own clock. */
  holds(): boolean {
    return this.leading && this.renewedAt !== undefined && this.now() - this.renewedAt < this.renewDeadlineMs;
  }

  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      await this.attempt();
      if (!this.stopped) this.timer = setTimeout(() => void loop(), this.retryMs);
    };
    void loop();
  }

  /** Stops trying; a leader gives the Lease up (an empty holder) so another replica need not wait it out. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.lose('stopping');
    try {
      await this.write((spec) => ({ ...spec, holderIdentity: '', renewTime: microTime(this.now()) }), true);
    } catch {
      /* the next leader waits out the lease instead */
    }
  }

  /** One round: take the Lease if it is free or expired, renew it if ours. */
  async attempt(): Promise<void> {
    try {
      await this.tryAcquireOrRenew();
      this.reachable = true;
    } catch (err) {
      this.reachable = false;
      this.o.log?.(`leader election: ${(err as Error).message}`);
    }
    // Not renewed in time (errors, conflicts, a pause): stop before anyone else may start.
    if (this.leading && !this.holds()) this.lose('could not renew the lease in time');
  }

  private ref(): ObjectRef {
    return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: this.o.namespace, name: this.o.name };
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const now = this.now();
    const lease = await this.o.client.get<LeaseObject>(this.ref());
    if (!lease) {
      const spec: LeaseSpec = {
        holderIdentity: this.o.identity,
        leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
        acquireTime: microTime(now),
        renewTime: microTime(now),
        leaseTransitions: 0,
      };
      try {
        await this.o.client.create<LeaseObject>({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec,
        });
      } catch (err) {
        if (err instanceof KubeConflict) return; // another replica created it first
        throw err;
      }
      return this.won(now, 0);
    }
    const spec = lease.spec ?? {};
    const record = JSON.stringify(spec);
    if (this.observed?.record !== record) this.observed = { record, at: now };
    const mine = spec.holderIdentity === this.o.identity;
    const duration = (spec.leaseDurationSeconds ?? this.leaseMs / 1000) * 1000;
    const free = !spec.holderIdentity || this.observed.at + duration <= now;
    if (!mine && !free) return;
    const next: LeaseSpec = {
      ...spec,
      holderIdentity: this.o.identity,
      leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
      renewTime: microTime(now),
      ...(mine ? {} : { acquireTime: microTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
    };
    try {
      const written = await this.o.client.replace<LeaseObject>({ ...lease, spec: next });
      this.observed = { record: JSON.stringify(written.spec ?? {}), at: now };
    } catch (err) {
      if (err instanceof KubeConflict) return; // someone else wrote it: read again next round
      throw err;
    }
    this.won(now, next.leaseTransitions ?? 0);
  }

  private won(at: number, term: number): void {
    this.renewedAt = at;
    if (this.leading) return;
    this.leadsIn = term;
    this.leading = true;
    this.o.log?.(`leader election: ${this.o.identity} leads (lease ${this.o.namespace}/${this.o.name})`);
    this.o.onStartedLeading();
  }

  private lose(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.o.log?.(`leader election: ${this.o.identity} stopped leading: ${why}`);
    this.o.onStoppedLeading();
  }

  private async write(edit: (spec: LeaseSpec) => LeaseSpec, onlyIfMine: boolean): Promise<void> {
    const lease = await this.o.client.get<LeaseObject>(this.ref());
    if (!lease || (onlyIfMine && lease.spec?.holderIdentity !== this.o.identity)) return;
    await this.o.client.replace<LeaseObject>({ ...lease, spec: edit(lease.spec ?? {}) });
  }
}

/** Thrown by a fenced client's writes once this replica no longer leads. */
export class NotLeader extends KubeError {
  constructor() {
    super(0, 'NotLeader', 'this operator replica no longer holds the leader lease; it writes nothing');
    this.name = 'NotLeader';
  }
}

/**
 * `client` with every write refused unless `holds()` says this replica leads. Reads pass.
 * With the resourceVersion each write carries, a replica that stopped leading (or was
 * paused past its lease) cannot change anything the new leader has written.
 */
export function fencedClient(client: KubeClient, holds: () => boolean): KubeClient {
  const check = () => {
    if (!holds()) throw new NotLeader();
  };
  return {
    resource: (apiVersion, kind) => client.resource(apiVersion, kind),
    get: (ref) => client.get(ref),
    list: (apiVersion, kind, namespace, options) => client.list(apiVersion, kind, namespace, options),
    watch: (apiVersion, kind, options, onEvent) => client.watch(apiVersion, kind, options, onEvent),
    create: async (object) => (check(), client.create(object)),
    replace: async (object, options) => (check(), client.replace(object, options)),
    patch: async <T extends KubeObject>(ref: ObjectRef, type: PatchType, patch: unknown, options?: PatchOptions) => (
      check(),
      client.patch<T>(ref, type, patch, options)
    ),
    delete: async (ref, options) => (check(), client.delete(ref, options)),
  };
}
