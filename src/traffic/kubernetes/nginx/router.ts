/**
 * The nginx traffic router: ingress-nginx's canary annotations on a second Ingress that
 * kanari owns (`<ingress>-kanari-canary`), beside the user's Ingress, which it never
 * changes. The user's Ingress sends to the user's Service; kanari pins that Service to the
 * stable version's pods by adding its two selector labels (as Argo Rollouts does with its
 * stable Service), so the canary's pods are reached only through the canary Ingress.
 */
import type { z } from 'zod';
import { NGINX } from '../../../config/capabilities.js';
import type { nginxRouting } from '../../../config/schemas/kubernetes.js';
import type { KubeObject, OwnerReference } from '../../../kube/api.js';
import { isKanaris, versionObjectName } from '../../../kube/versions.js';
import { TrafficRefused, type TrafficCapability } from '../../../rollout/seams/traffic.js';
import type { TrafficState } from '../../../rollout/types.js';
import { typed, type KubernetesRouterOptions, type KubernetesTrafficRouter } from '../kube-router.js';
import { checkExpressible } from '../owned-rules.js';
import { pinnedVersion, pinService, serviceRef, unpinService } from '../service-pin.js';
import {
  canaryAnnotations,
  canaryIngressFor,
  canaryIngressName,
  canaryOfIngress,
  unsupportedByNginx,
} from './canary-ingress.js';

/** `spec.trafficRouting.nginx`, defaults applied. */
export type NginxRouting = z.output<typeof nginxRouting>;

export interface NginxTrafficOptions extends KubernetesRouterOptions<NginxRouting> {
  /** The Rollout, which owns the canary Ingress. */
  owner?: OwnerReference;
}

export class NginxTraffic implements KubernetesTrafficRouter {
  readonly name = NGINX.name;
  readonly supports: ReadonlySet<TrafficCapability> = NGINX.supports;
  /** ingress-nginx picks the canary per request (math.random against the weight), with no affinity. */
  readonly assignment = 'request' as const;
  private last?: TrafficState;

  constructor(private readonly o: NginxTrafficOptions) {}

  async apply(desired: TrafficState): Promise<void> {
    const problem = unsupportedByNginx(desired);
    if (problem) throw new TrafficRefused(`the nginx router cannot do this: ${problem}`);
    checkExpressible(desired, this.o.rollout.name);
    this.last = desired;
    await typed(async () => {
      // Main traffic moves first, so a promoted canary keeps its users while its canary Ingress goes.
      await pinService(this.o.client, this.serviceRef(), this.o.rollout.name, desired.stable);
      if (desired.canary === undefined) await this.deleteCanary();
      else await this.writeCanary(desired);
    });
  }

  async observe(): Promise<TrafficState | undefined> {
    return typed(async () => {
      const stable = pinnedVersion(await this.o.client.get(this.serviceRef()), this.o.rollout.name);
      if (stable === undefined) return undefined;
      const canary = await this.o.client.get(this.canaryRef());
      if (!canary) return { stable, weights: { canary: 0, baseline: 0 }, routes: [], mirror: 0 };
      if (!isKanaris(canary, this.o.rollout.name))
        throw new TrafficRefused(`Ingress ${canary.metadata.name} is not kanari's: it will not be read as the canary`);
      // What kanari wrote reads back as what it was asked (a regex route like "^abc" and a prefix route look alike).
      const last = this.last;
      if (last?.stable === stable && last.canary !== undefined && this.wroteFor(canary, last)) return last;
      return { stable, ...canaryOfIngress(canary, this.o.routing.annotationPrefix, this.o.rollout.name), mirror: 0 };
    });
  }

  /** Takes kanari's selector labels off the user's Service again, then its canary Ingress away (the Rollout is being deleted). */
  async giveBack(): Promise<void> {
    await unpinService(this.o.client, this.serviceRef(), this.o.rollout.name);
    await typed(() => this.deleteCanary());
  }

  private serviceRef() {
    return serviceRef(this.o.rollout.namespace, this.o.service.name);
  }

  private canaryRef() {
    const name = canaryIngressName(this.o.routing.ingress);
    return { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace: this.o.rollout.namespace, name };
  }

  private async writeCanary(desired: TrafficState): Promise<void> {
    const ingress = await this.o.client.get({ ...this.canaryRef(), name: this.o.routing.ingress });
    if (!ingress) throw new TrafficRefused(`Ingress ${this.o.routing.ingress} does not exist`);
    const next = canaryIngressFor({
      ingress,
      service: this.o.service.name,
      canaryService: versionObjectName(this.o.rollout.name, desired.canary!),
      rollout: this.o.rollout.name,
      prefix: this.o.routing.annotationPrefix,
      state: desired,
      ...(this.o.owner ? { owner: this.o.owner } : {}),
    });
    const current = await this.o.client.get(this.canaryRef());
    if (!current) {
      await this.o.client.create(next);
      return;
    }
    if (!isKanaris(current, this.o.rollout.name))
      throw new TrafficRefused(
        `Ingress ${current.metadata.name} exists and is not kanari's: it will not be overwritten`,
      );
    if (
      JSON.stringify([current.metadata.annotations, current.spec]) ===
      JSON.stringify([next.metadata.annotations, next.spec])
    )
      return;
    await this.o.client.replace({
      ...next,
      metadata: { ...current.metadata, ...next.metadata, resourceVersion: current.metadata.resourceVersion },
    });
  }

  private async deleteCanary(): Promise<void> {
    const current = await this.o.client.get(this.canaryRef());
    if (!current) return;
    if (!isKanaris(current, this.o.rollout.name))
      throw new TrafficRefused(`Ingress ${current.metadata.name} is not kanari's: it will not be deleted`);
    await this.o.client.delete(this.canaryRef(), { preconditions: { uid: current.metadata.uid! } });
  }

  private wroteFor(canary: KubeObject, state: TrafficState): boolean {
    const mine = canaryAnnotations(state, this.o.routing.annotationPrefix);
    const theirs = Object.fromEntries(
      Object.entries(canary.metadata.annotations ?? {}).filter(([k]) =>
        k.startsWith(`${this.o.routing.annotationPrefix}/`),
      ),
    );
    if (JSON.stringify(Object.entries(mine).sort()) !== JSON.stringify(Object.entries(theirs).sort())) return false;
    try {
      return canaryOfIngress(canary, this.o.routing.annotationPrefix, this.o.rollout.name).canary === state.canary;
    } catch {
      return false;
    }
  }
}
