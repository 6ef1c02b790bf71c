/**
 * `kanari operator`: Kubernetes mode's composition root. Every replica runs leader
 * election on a Lease; only the holder runs rollouts, and every write it makes goes
 * through a client fenced by that lease (src/kube/lease.ts). The leader watches Rollout
 * resources (in one namespace or all), the Deployments and AnalysisTemplates they name, and hands each
 * Rollout to its `RolloutRunner` on every change and every resync, which makes the world
 * match it (level-triggered: a lost event or a restart converges all the same). Losing the lease
 * stops every engine without another write; the next leader resumes from the resources'
 * status.
 */
import { API_VERSION } from '../config/schemas/common.js';
import type { KubeClient, KubeObject } from '../kube/api.js';
import { watchKind, type KindWatch } from '../kube/informer.js';
import { fencedClient, LeaderElection } from '../kube/lease.js';
import { describeSystemError } from '../shared/system.js';
import { RolloutRunner, type RunnerAdapters, type RunnerWorld } from './runner.js';
import { TemplateWatch } from './template-watch.js';

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
  world: (client: KubeClient) => RunnerAdapters;
  log: (line: string) => void;
}

export class Operator {
  private readonly election: LeaderElection;
  private readonly fenced: KubeClient;
  private readonly runners = new Map<string, RolloutRunner>();
  /** Every Rollout as the watch last reported it: the operator's view of the world. */
  private readonly resources = new Map<string, KubeObject>();
  /** Per rollout, the reconcile running now: one at a time for each. */
  private readonly busy = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private watches: KindWatch[] = [];
  private templates?: TemplateWatch;
  private timer?: NodeJS.Timeout;
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

  /** Whether the API server answered the last leader-election round. */
  get reachable(): boolean {
    return this.election.reachable;
  }

  start(): void {
    this.election.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.follow('stopping');
    await this.election.stop();
  }

  /** Reconciles every Rollout now and waits for it (tests call this rather than wait for the resync). */
  async sync(): Promise<void> {
    await Promise.all([...this.resources.keys()].map((key) => this.reconcile(key)));
  }

  private lead(): void {
    if (this.stopped) return;
    this.leading = true;
    const failed = (what: string) => (err: unknown) =>
      this.o.log(`operator: watching ${what}: ${describeSystemError(err)} (retrying)`);
    this.watches = [
      watchKind(this.o.client, API_VERSION, 'Rollout', this.o.namespace, {
        synced: (items) => {
          const keys = new Set(items.map(keyOf));
          for (const key of this.resources.keys()) if (!keys.has(key)) this.forget(key);
          for (const item of items) this.seen(item);
        },
        changed: (e) => (e.type === 'DELETED' ? this.forget(keyOf(e.object)) : this.seen(e.object)),
        failed: failed('Rollouts'),
      }),
      // A new template in a workload starts a release: reconcile the Rollouts that name it.
      watchKind(this.o.client, 'apps/v1', 'Deployment', this.o.namespace, {
        synced: () => {},
        changed: (e) => {
          for (const [key, r] of this.resources)
            if (
              r.metadata.namespace === e.object.metadata.namespace &&
              (r.spec as { workloadRef?: { name?: string } } | undefined)?.workloadRef?.name === e.object.metadata.name
            )
              void this.reconcile(key);
        },
        failed: failed('Deployments'),
      }),
    ];
    this.templates = new TemplateWatch(
      this.o.client,
      this.o.namespace,
      (namespace) => {
        for (const [key, r] of this.resources) if (r.metadata.namespace === namespace) void this.reconcile(key);
      },
      failed('AnalysisTemplates'),
    );
    this.watches.push(this.templates);
    const resync = () => {
      if (!this.leading) return;
      void this.sync().finally(() => {
        if (this.leading) this.timer = setTimeout(resync, this.o.resyncMs ?? 5000);
      });
    };
    this.timer = setTimeout(resync, this.o.resyncMs ?? 5000);
  }

  private seen(resource: KubeObject): void {
    const key = keyOf(resource);
    this.resources.set(key, resource);
    void this.reconcile(key);
  }

  private forget(key: string): void {
    this.resources.delete(key);
    void this.reconcile(key);
  }

  /** Reconciles one rollout; a change while it runs makes it run once more after. */
  private reconcile(key: string): Promise<void> {
    const running = this.busy.get(key);
    if (running) {
      this.again.add(key);
      return running;
    }
    const work = (async () => {
      do {
        this.again.delete(key);
        if (!this.leading) return;
        await this.reconcileNow(key);
      } while (this.again.has(key));
    })().finally(() => this.busy.delete(key));
    this.busy.set(key, work);
    return work;
  }

  private async reconcileNow(key: string): Promise<void> {
    const resource = this.resources.get(key);
    let runner = this.runners.get(key);
    if (runner && (!resource || runner.uid !== resource.metadata.uid)) {
      // Deleted (or deleted and created again under the same name): its engine stops here.
      this.runners.delete(key);
      await runner.close();
      runner = undefined;
    }
    if (!resource) return;
    if (!runner) {
      let made: RolloutRunner | undefined = undefined;
      made = new RolloutRunner(
        resource,
        this.world((why) => void (made && this.drop(made, why))),
      );
      this.runners.set(key, made);
      runner = made;
    }
    await runner.update(resource);
  }

  private async follow(why: string): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    clearTimeout(this.timer);
    this.o.log(`operator: ${why}; every rollout is left as it is for the next leader`);
    // Everything this term held is taken now, before any await: leading again meanwhile starts clean.
    const watches = this.watches;
    const runners = [...this.runners.values()];
    const busy = [...this.busy.values()];
    this.watches = [];
    this.templates = undefined;
    this.runners.clear();
    this.resources.clear();
    await Promise.all([...watches.map((w) => w.stop()), ...busy]);
    await Promise.all(runners.map((r) => r.close()));
  }

  /**
   * One rollout's status was written by another replica: that runner stops. The others go
   * on; if this replica really lost the lease, its election says so within the renew deadline.
   */
  private async drop(runner: RolloutRunner, why: string): Promise<void> {
    if (this.runners.get(runner.key) === runner) this.runners.delete(runner.key);
    this.o.log(`operator: ${runner.key}: ${why}; left to the replica that wrote it`);
    await runner.close();
  }

  private world(lost: (why: string) => void): RunnerWorld {
    return {
      ...this.o.world(this.fenced),
      client: this.fenced,
      identity: this.o.identity,
      // A runner lives within one leadership (losing the lease closes them all): the term it writes in.
      term: this.election.term,
      log: this.o.log,
      lost,
      findTemplate: (namespace, name) =>
        this.templates
          ? this.templates.find(namespace, name)
          : this.o.client.get({ apiVersion: API_VERSION, kind: 'AnalysisTemplate', namespace, name }),
    };
  }
}

const keyOf = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}`;
