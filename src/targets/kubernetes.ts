/**
 * The kubernetes target: each instance is a Deployment and a Service named
 * `<rollout>-<id>` that kanari creates (or adopts, after a restart) from the release's pod
 * template, owned by the Rollout so deleting it deletes them. An instance is ready once the
 * Deployment controller has seen its spec and enough pods are ready; one poll of the
 * rollout's Deployments keeps every instance's readiness current in the background.
 */
import type { TargetSpec } from '../config/schemas/rollout.js';
import { describeRef, KubeConflict, type KubeClient, type KubeObject, type OwnerReference } from '../kube/api.js';
import {
  deploymentProgress,
  isKanaris,
  ROLLOUT_LABEL,
  scaleVersion,
  versionObjectName,
  type DeploymentProgress,
} from '../kube/versions.js';
import type { DeploymentTarget, InstanceRequest, Readiness, TargetEvents } from '../rollout/seams/targets.js';
import { deploymentFor, endpointOf, portsOf, serviceFor } from './kubernetes-objects.js';

export interface KubernetesTargetOptions {
  client: KubeClient;
  namespace: string;
  /** The Rollout every object is owned by. */
  owner: OwnerReference;
  rollout: string;
  events: TargetEvents;
  /**
   * `traffic` when the replicas router sets pod counts (a pod is a share of traffic there):
   * a new version then starts with no pods while another one runs, and is never resized here.
   */
  sizedBy?: 'target' | 'traffic';
  /** How often the rollout's Deployments are read. */
  pollMs?: number;
  /** An instance not ready after this long is given up on, with what was last seen. */
  startTimeoutMs?: number;
}

interface Instance {
  name: string;
  endpoint: string;
  progress?: DeploymentProgress;
  /** Has been ready once: from then on it is running, and its Deployment going away is an exit. */
  ready: boolean;
}

interface Waiter {
  id: string;
  /** What it waits for, given the Deployment's progress. */
  until: (p: DeploymentProgress) => boolean;
  what: string;
  deadline: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class KubernetesTarget implements DeploymentTarget {
  readonly kind = 'kubernetes';
  readonly resizes: boolean;
  private readonly instances = new Map<string, Instance>();
  private waiters: Waiter[] = [];
  private timer?: NodeJS.Timeout;
  private polling = false;
  private lastError?: string;

  constructor(private readonly o: KubernetesTargetOptions) {
    this.resizes = (o.sizedBy ?? 'target') === 'target';
  }

  accepts(target: TargetSpec): boolean {
    return target.kubernetes !== undefined;
  }

  readiness(id: string): Readiness {
    const inst = this.instances.get(id);
    if (!inst) return { state: 'absent' };
    if (!inst.ready || !inst.progress) return { state: 'starting' };
    return { state: 'ready', endpoints: [inst.endpoint], size: Math.min(inst.progress.ready, inst.progress.wanted) };
  }

  async ensure(request: InstanceRequest): Promise<void> {
    const spec = request.target.kubernetes;
    if (!spec) throw new Error(`instance ${request.id} is not a kubernetes target`);
    if (spec.namespace !== this.o.namespace)
      throw new Error(
        `instance ${request.id} asks for namespace ${spec.namespace}; this Rollout is in ${this.o.namespace}`,
      );
    const name = versionObjectName(this.o.rollout, request.id);
    // Starting from now, before the first await: the engine reconciles again meanwhile and
    // must not ask for the same instance twice (its second create would find the first's).
    if (!this.instances.has(request.id)) this.instances.set(request.id, { name, endpoint: '', ready: false });
    // Both names are checked before anything is written: a refusal leaves the namespace as it was.
    const existing = await this.ours('Deployment', name);
    const service = await this.ownService(request.id, name, spec.service);
    if (!existing) {
      const replicas = this.resizes || !(await this.anotherRuns(name)) ? request.size : 0;
      const deployment = deploymentFor({ ...this.base(request.id), template: spec.template, replicas });
      await this.create(deployment);
    }
    const known = this.instances.get(request.id);
    this.instances.set(request.id, {
      ready: false,
      ...known,
      name,
      endpoint: endpointOf(name, this.o.namespace, service),
    });
    // Under the replicas router the pod count is the router's, so ready means ready at whatever it asked.
    const size = request.size;
    try {
      await this.wait(
        request.id,
        `${size} ready pod${size === 1 ? '' : 's'}`,
        (p) => p.observed && p.ready >= (this.resizes ? size : p.wanted),
      );
    } catch (err) {
      // Absent, not starting: the engine starts it again after its back-off (and adopts what is there).
      if (!this.instances.get(request.id)?.ready) this.instances.delete(request.id);
      throw err;
    }
    this.instances.get(request.id)!.ready = true;
  }

  async resize(id: string, size: number): Promise<void> {
    if (!this.resizes) throw new Error(`instance ${id}: the replicas router sets its pods, not the target`);
    const inst = this.instances.get(id);
    if (!inst) throw new Error(`instance ${id} is not running`);
    await scaleVersion(this.o.client, this.ref('Deployment', inst.name), this.o.rollout, size);
    await this.wait(
      id,
      `${size} pods`,
      (p) => p.observed && p.wanted === size && p.ready >= size && p.existing <= size,
    );
  }

  async remove(id: string): Promise<void> {
    const name = versionObjectName(this.o.rollout, id);
    this.forget(id, `instance ${id} was removed`);
    const found = [await this.ours('Deployment', name), await this.ours('Service', name)];
    for (const object of found)
      if (object)
        await this.o.client.delete(this.ref(object.kind as 'Deployment' | 'Service', name), {
          preconditions: { uid: object.metadata.uid! },
          propagationPolicy: 'Background',
        });
  }

  async stopAll(): Promise<void> {
    for (const id of [...this.instances.keys()]) await this.remove(id);
  }

  detach(): void {
    for (const id of [...this.instances.keys()]) this.forget(id, `instance ${id} was detached`);
  }

  private base(id: string) {
    return { rollout: this.o.rollout, id, namespace: this.o.namespace, owner: this.o.owner };
  }

  private ref(kind: 'Deployment' | 'Service', name: string) {
    return { apiVersion: kind === 'Service' ? 'v1' : 'apps/v1', kind, namespace: this.o.namespace, name };
  }

  /** The object kanari made under `name`, or undefined; one someone else made there is refused, never adopted. */
  private async ours(kind: 'Deployment' | 'Service', name: string): Promise<KubeObject | undefined> {
    const object = await this.o.client.get(this.ref(kind, name));
    if (object && !isKanaris(object, this.o.rollout, this.o.owner.uid))
      throw new Error(`${describeRef(this.ref(kind, name))} exists and is not this Rollout's: kanari leaves it alone`);
    return object;
  }

  /** The version's Service, created with the ports of the user's Service when it is not there yet. */
  private async ownService(id: string, name: string, userService: string) {
    const existing = await this.ours('Service', name);
    if (existing) return portsOf(existing);
    const user = await this.o.client.get(this.ref('Service', userService));
    if (!user)
      throw new Error(`${describeRef(this.ref('Service', userService))} does not exist: a version copies its ports`);
    const ports = portsOf(user);
    await this.create(serviceFor({ ...this.base(id), ports }));
    return ports;
  }

  private async create(object: KubeObject): Promise<void> {
    try {
      await this.o.client.create(object);
    } catch (err) {
      // Another writer (a previous operator still stopping) made it first: adopt it on the next ensure.
      if (err instanceof KubeConflict && err.reason === 'AlreadyExists')
        throw new Error(`${describeRef({ ...object.metadata, kind: object.kind })} was created meanwhile`, {
          cause: err,
        });
      throw err;
    }
  }

  /** Whether another version of this rollout has pods (then a new one under the replicas router starts with none). */
  private async anotherRuns(name: string): Promise<boolean> {
    const { items } = await this.o.client.list('apps/v1', 'Deployment', this.o.namespace, {
      labelSelector: `${ROLLOUT_LABEL}=${this.o.rollout}`,
    });
    return items.some(
      (d) => d.metadata.name !== name && isKanaris(d, this.o.rollout) && deploymentProgress(d).wanted > 0,
    );
  }

  private wait(id: string, what: string, until: (p: DeploymentProgress) => boolean): Promise<void> {
    const deadline = Date.now() + (this.o.startTimeoutMs ?? 15 * 60_000);
    const done = new Promise<void>((resolve, reject) =>
      this.waiters.push({ id, what, until, deadline, resolve, reject }),
    );
    this.poll();
    return done;
  }

  private forget(id: string, why: string): void {
    this.instances.delete(id);
    for (const w of this.waiters.filter((x) => x.id === id)) w.reject(new Error(why));
    this.waiters = this.waiters.filter((w) => w.id !== id);
    if (this.instances.size === 0) this.stopPolling();
  }

  private poll(): void {
    if (this.polling) return;
    this.polling = true;
    void this.refresh().finally(() => {
      this.polling = false;
      if (this.instances.size === 0 && this.waiters.length === 0) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.poll(), this.o.pollMs ?? 2000);
    });
  }

  private stopPolling(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Reads every Deployment of the rollout once, and settles what waits on them. */
  private async refresh(): Promise<void> {
    let byName: Map<string, KubeObject>;
    try {
      const { items } = await this.o.client.list('apps/v1', 'Deployment', this.o.namespace, {
        labelSelector: `${ROLLOUT_LABEL}=${this.o.rollout}`,
      });
      byName = new Map(items.map((d) => [d.metadata.name, d]));
      this.lastError = undefined;
    } catch (err) {
      this.lastError = (err as Error).message;
      this.expire();
      return;
    }
    for (const [id, inst] of [...this.instances]) {
      const deployment = byName.get(inst.name);
      if (!deployment || !isKanaris(deployment, this.o.rollout, this.o.owner.uid)) {
        const wasRunning = inst.ready;
        this.forget(id, `Deployment ${inst.name} is gone`);
        if (wasRunning) this.o.events.exited(id, `its Deployment ${inst.name} was deleted`);
        continue;
      }
      inst.progress = deploymentProgress(deployment);
    }
    for (const w of [...this.waiters]) {
      const p = this.instances.get(w.id)?.progress;
      if (p && w.until(p)) this.settle(w);
      else if (p?.stuck) this.settle(w, new Error(`${this.instances.get(w.id)!.name}: ${p.stuck}`));
    }
    this.expire();
  }

  private expire(): void {
    const now = Date.now();
    for (const w of this.waiters.filter((x) => x.deadline <= now)) {
      const p = this.instances.get(w.id)?.progress;
      const seen = p ? `${p.ready} of ${p.wanted} pods ready` : (this.lastError ?? 'its Deployment was never read');
      this.settle(w, new Error(`instance ${w.id} did not reach ${w.what} in time (${seen})`));
    }
  }

  private settle(w: Waiter, err?: Error): void {
    this.waiters = this.waiters.filter((x) => x !== w);
    if (err) w.reject(err);
    else w.resolve();
  }
}
