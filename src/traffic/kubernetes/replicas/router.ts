/**
 * The replicas traffic router: no mesh, no ingress — the user's Service selects every
 * version's pods (both carry the app's labels), so a version's share is its share of ready
 * pods. apply() scales the versions' Deployments (the ones the kubernetes target made) to
 * the split, growing first and shrinking only once the growth is ready, so capacity never
 * dips; observe() counts ready pods, so weight never goes to a pod that is not ready.
 */
import type { z } from 'zod';
import { REPLICAS } from '../../../config/capabilities.js';
import type { replicasRouting } from '../../../config/schemas/kubernetes.js';
import type { KubeObject } from '../../../kube/api.js';
import {
  deploymentProgress,
  isKanaris,
  record,
  ROLLOUT_LABEL,
  scaleVersion,
  versionObjectName,
} from '../../../kube/versions.js';
import { TrafficRefused, type TrafficCapability } from '../../../rollout/seams/traffic.js';
import type { TrafficState } from '../../../rollout/types.js';
import { typed, type KubernetesRouterOptions, type KubernetesTrafficRouter } from '../kube-router.js';
import { checkExpressible } from '../owned-rules.js';
import { podsFor, share } from '../../../config/replica-split.js';

export type ReplicasRouting = z.output<typeof replicasRouting>;

export interface ReplicasTrafficOptions extends KubernetesRouterOptions<ReplicasRouting> {
  /** Pods of stable and canary together: the rollout's replicas. */
  replicas: number;
}

export class ReplicasTraffic implements KubernetesTrafficRouter {
  readonly name = REPLICAS.name;
  readonly supports: ReadonlySet<TrafficCapability> = REPLICAS.supports;
  /** kube-proxy picks a pod per connection, and keep-alive and HTTP/2 clients keep theirs. */
  readonly assignment = 'connection' as const;
  private last?: TrafficState;

  constructor(private readonly o: ReplicasTrafficOptions) {}

  async apply(desired: TrafficState): Promise<void> {
    const plan = this.plan(desired);
    this.last = desired;
    await typed(async () => {
      let deployments = await this.versions();
      for (const name of plan.keys())
        if (!deployments.has(name)) throw new TrafficRefused(`Deployment ${name} does not exist: nothing to scale`);
      await this.checkSelected([...plan.keys()].map((name) => deployments.get(name)!));
      const wanted = (name: string) => plan.get(name) ?? 0;
      const growing = [...deployments.values()].filter((d) => wanted(d.metadata.name) > deploymentProgress(d).wanted);
      for (const d of growing) await this.scale(d.metadata.name, wanted(d.metadata.name));
      if (growing.length > 0) deployments = await this.versions();
      // Shrinking waits until every version that grows serves at its new size, so capacity never dips.
      // (A version that is to shrink has nothing to grow: only the others are waited for.)
      const grown = [...plan].every(([name, pods]) => {
        const p = deploymentProgress(deployments.get(name)!);
        return pods < p.wanted || (p.wanted === pods && p.observed && p.ready >= pods);
      });
      if (!grown) return;
      for (const d of deployments.values())
        if (wanted(d.metadata.name) < deploymentProgress(d).wanted)
          await this.scale(d.metadata.name, wanted(d.metadata.name));
    });
  }

  async observe(): Promise<TrafficState | undefined> {
    const last = this.last;
    if (!last) return undefined;
    const plan = this.plan(last);
    return typed(async () => {
      const deployments = await this.versions();
      const ready = (name: string) => {
        const d = deployments.get(name);
        return d ? deploymentProgress(d).ready : 0;
      };
      const canary = last.canary === undefined ? 0 : ready(versionObjectName(this.o.rollout.name, last.canary));
      const all = [...deployments.keys()].reduce((n, name) => n + ready(name), 0);
      if ([...deployments.keys()].every((name) => ready(name) === (plan.get(name) ?? 0))) return last;
      // Not the split asked for: what serves, with each version's ready pods (which the state asked for never has).
      const prefix = `${this.o.rollout.name}-`;
      const sizes = Object.fromEntries([...deployments.keys()].map((name) => [name.slice(prefix.length), ready(name)]));
      return {
        stable: last.stable,
        ...(last.canary === undefined ? {} : { canary: last.canary }),
        weights: { canary: share(canary, all), baseline: 0 },
        routes: [],
        mirror: 0,
        sizes,
      };
    });
  }

  /** Nothing of kanari's is in the user's objects: the versions' Deployments go with the Rollout (owner references). */
  giveBack(): Promise<void> {
    return Promise.resolve();
  }

  /** Each version's Deployment and its pods; a state the router cannot do is refused, never approximated. */
  private plan(desired: TrafficState): Map<string, number> {
    if (desired.baseline !== undefined || desired.routes.length > 0 || desired.mirror > 0)
      throw new TrafficRefused('the replicas router splits by weight only: no baseline, header routes or mirroring');
    checkExpressible(desired, this.o.rollout.name);
    const split = podsFor(desired.canary === undefined ? 0 : desired.weights.canary, this.o.replicas);
    if ('problem' in split) throw new TrafficRefused(`the replicas router cannot send this: ${split.problem}`);
    const name = (id: string) => versionObjectName(this.o.rollout.name, id);
    const plan = new Map([[name(desired.stable), split.stable]]);
    if (desired.canary !== undefined) plan.set(name(desired.canary), split.canary);
    return plan;
  }

  /** The rollout's version Deployments, by name (the user's Deployment and others' are not counted). */
  private async versions(): Promise<Map<string, KubeObject>> {
    const { items } = await this.o.client.list('apps/v1', 'Deployment', this.o.rollout.namespace, {
      labelSelector: `${ROLLOUT_LABEL}=${this.o.rollout.name}`,
    });
    return new Map(items.filter((d) => isKanaris(d, this.o.rollout.name)).map((d) => [d.metadata.name, d]));
  }

  private scale(name: string, replicas: number): Promise<void> {
    const ref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: this.o.rollout.namespace, name };
    return scaleVersion(this.o.client, ref, this.o.rollout.name, replicas);
  }

  /** The user's Service must select every version's pods, or a share of pods is not a share of its traffic. */
  private async checkSelected(deployments: KubeObject[]): Promise<void> {
    const ref = { apiVersion: 'v1', kind: 'Service', namespace: this.o.rollout.namespace, name: this.o.service.name };
    const service = await this.o.client.get(ref);
    if (!service) throw new TrafficRefused(`Service ${this.o.service.name} does not exist`);
    const selector = Object.entries(record(record(service.spec).selector));
    if (selector.length === 0)
      throw new TrafficRefused(`Service ${this.o.service.name} has no selector: it does not select the versions' pods`);
    for (const d of deployments) {
      const labels = record(record(record(record(d.spec).template).metadata).labels);
      const missing = selector.filter(([k, v]) => labels[k] !== v).map(([k, v]) => `${k}=${String(v)}`);
      if (missing.length > 0)
        throw new TrafficRefused(
          `Service ${this.o.service.name} does not select the pods of ${d.metadata.name} (they lack ${missing.join(', ')})`,
        );
    }
  }
}
