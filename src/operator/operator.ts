/**
 * `kanari operator`: Kubernetes mode's composition root. Every replica runs leader
 * election on a Lease; only the holder runs rollouts, and every write it makes goes
 * through a client fenced by that lease (src/kube/lease.ts). The leader lists Rollout
 * resources (in one namespace or all) every resync and on every change a watch reports,
 * and hands each to its `RolloutRunner`, which makes the world match it. Losing the lease
 * stops every engine without another write; the next leader resumes from the resources'
 * status.
 */
import { API_VERSION } from '../config/schemas/common.js';
import type { KubeClient, KubeObject } from '../kube/api.js';
import { fencedClient, LeaderElection } from '../kube/lease.js';
import { describeSystemError } from '../shared/system.js';
import { RolloutRunner, type RunnerWorld } from './runner.js';

export interface OperatorOptions {
  client: KubeClient;
  /** Watch Rollouts in this namespace only; all namespaces when undefined. */
  namespace?: string;
  /** Where the leader Lease lives. */
  leaseNamespace: string;
  leaseName?: string;
  identity: string;
  /** How often every Rollout is reconciled even without a change (level-triggered). */
  resyncMs?: number;
  election?: { leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  /** The adapters each rollout's engine gets, given the fenced client. */
  world: (client: KubeClient) => Omit<RunnerWorld, 'client' | 'identity' | 'log' | 'lost'>;
  log: (line: string) => void;
}

export class Operator {
  private readonly election: LeaderElection;
  private readonly fenced: KubeClient;
  private readonly runners = new Map<string, RolloutRunner>();
  private timer?: NodeJS.Timeout;
  private syncing?: Promise<void>;
  private leading = false;
  private stopped = false;

  constructor(private readonly o: OperatorOptions) {
    this.election = new LeaderElection({
      client: o.client,
      namespace: o.leaseNamespace,
      name: o.leaseName ?? 'kanari-operator',
      identity: o.identity,
      ...o.election,
      onStartedLeading: () => this.lead(),
      onStoppedLeading: () => void this.follow('lost the lease'),
      log: o.log,
    });
    this.fenced = fencedClient(o.client, () => this.election.holds());
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.election.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.follow('stopping');
    await this.election.stop();
  }

  /** Reconciles every Rollout now (tests call this rather than wait for the resync). */
  sync(): Promise<void> {
    this.syncing ??= this.syncAll().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private lead(): void {
    if (this.stopped) return;
    this.leading = true;
    const loop = () => {
      if (!this.leading) return;
      void this.sync().finally(() => {
        if (this.leading) this.timer = setTimeout(loop, this.o.resyncMs ?? 2000);
      });
    };
    loop();
  }

  private async follow(why: string): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    clearTimeout(this.timer);
    this.o.log(`operator: ${why}; every rollout is left as it is for the next leader`);
    await this.syncing;
    const runners = [...this.runners.values()];
    this.runners.clear();
    await Promise.all(runners.map((r) => r.close()));
  }

  private async syncAll(): Promise<void> {
    let items: KubeObject[];
    try {
      items = (await this.o.client.list(API_VERSION, 'Rollout', this.o.namespace)).items;
    } catch (err) {
      this.o.log(`operator: cannot list Rollouts: ${describeSystemError(err)}`);
      return;
    }
    const seen = new Set<string>();
    for (const resource of items) {
      if (!this.leading) return;
      const key = `${resource.metadata.namespace}/${resource.metadata.name}`;
      seen.add(key);
      let runner = this.runners.get(key);
      if (runner && runner.uid !== resource.metadata.uid) {
        await runner.close(); // deleted and created again under the same name
        runner = undefined;
      }
      if (!runner) {
        runner = new RolloutRunner(resource, this.world());
        this.runners.set(key, runner);
      }
      await runner.update(resource);
    }
    for (const [key, runner] of this.runners)
      if (!seen.has(key)) {
        this.runners.delete(key);
        await runner.close();
      }
  }

  private world(): RunnerWorld {
    return {
      ...this.o.world(this.fenced),
      client: this.fenced,
      identity: this.o.identity,
      log: this.o.log,
      lost: (why) => void this.follow(why),
    };
  }
}
