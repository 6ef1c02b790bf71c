/**
 * The Gateway API as the data plane: kanari's rules in the user's HTTPRoute, written by
 * read-modify-write at the version read (the `rules` list is atomic, so server-side apply
 * would take the whole list from the user), and read back to say what is served. The
 * user's Service is narrowed to stable (service-pin.ts), so the user's own rules and
 * in-cluster callers of the Service reach stable alone, not every version by pod count.
 */
import type { z } from 'zod';
import type { gatewayApiRouting } from '../../../config/schemas/kubernetes.js';
import { GATEWAY_API } from '../../../config/capabilities.js';
import { describeRef, type KubeObject, type ObjectRef } from '../../../kube/api.js';
import { updateObject } from '../../../kube/update.js';
import { TrafficRefused, type TrafficCapability } from '../../../rollout/seams/traffic.js';
import type { TrafficState } from '../../../rollout/types.js';
import { editIfThere, typed, type KubernetesRouterOptions, type KubernetesTrafficRouter } from '../kube-router.js';
import { covers, isStableOnly, servedByUserRules, STABLE_HOLD_MS, StableHold } from '../owned-rules.js';
import { pinnedVersion, pinService, serviceRef, unpinService } from '../service-pin.js';
import { HTTPROUTE_CRD, httpRouteFeatures, requireFeatures, type HttpRouteFeatures } from './crd.js';
import { routeTraffic, splitRoute, withoutOwnedRules, type RouteContext } from './route.js';

export class GatewayApiTraffic implements KubernetesTrafficRouter {
  readonly name = GATEWAY_API.name;
  readonly supports: ReadonlySet<TrafficCapability> = GATEWAY_API.supports;
  /** Weights pick a backend for each request. */
  readonly assignment = 'request' as const;

  private readonly route: ObjectRef;
  private readonly serviceRef: ObjectRef;
  /** The CRD's features once they were enough; read again while they are not (the CRD may be upgraded). */
  private features?: HttpRouteFeatures;
  private readonly hold: StableHold;

  constructor(
    private readonly o: KubernetesRouterOptions<z.output<typeof gatewayApiRouting>> & {
      holdMs?: number;
      /** A header name while the judge counts from Envoy Gateway (route.ts RouteContext), asked at each use. */
      versionHeader?: () => string | undefined;
    },
  ) {
    this.hold = new StableHold(o.holdMs ?? STABLE_HOLD_MS);
    this.route = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      namespace: o.routing.namespace ?? o.rollout.namespace,
      name: o.routing.httpRoute,
    };
    this.serviceRef = serviceRef(o.rollout.namespace, o.service.name);
  }

  /** The route's context now: the version header follows who counts, which may change between releases. */
  private get ctx(): RouteContext {
    return {
      rollout: this.o.rollout.name,
      namespace: this.o.rollout.namespace,
      service: this.o.service,
      versionHeader: this.o.versionHeader?.(),
    };
  }

  async apply(desired: TrafficState): Promise<void> {
    if (!isStableOnly(desired)) await this.requireFeatures(desired.mirror > 0);
    await typed(async () => {
      // The Service moves first: once kanari's rules go, the user's rules reach the new stable alone.
      await pinService(this.o.client, this.serviceRef, this.o.rollout.name, desired.stable);
      await updateObject<KubeObject>(this.o.client, this.route, (current) => {
        const hold = this.hold.holds(desired, () => routeTraffic(current, this.ctx));
        const next = splitRoute(current, desired, this.ctx, hold);
        return covers(current, next) ? undefined : next;
      });
    });
  }

  async observe(): Promise<TrafficState | undefined> {
    const route = await typed(() => this.o.client.get(this.route));
    if (!route) throw new TrafficRefused(`${describeRef(this.route)} does not exist`);
    const state = routeTraffic(route, this.ctx);
    const pinned = pinnedVersion(await typed(() => this.o.client.get(this.serviceRef)), this.o.rollout.name);
    // Not narrowed to this stable (someone replaced or edited it): the user's rules reach other versions too.
    if (pinned === undefined || (state && state.stable !== pinned)) return undefined;
    return state ?? servedByUserRules({ stable: pinned });
  }

  /**
   * Takes kanari's rules out of the HTTPRoute at once (no hold: the user's own pods serve by
   * now), then its labels out of the Service, which until then sends the user's rules to stable alone.
   */
  async giveBack(): Promise<void> {
    await editIfThere(this.o.client, this.route, (current) => {
      const next = withoutOwnedRules(current, this.ctx);
      return covers(current, next) ? undefined : next;
    });
    await unpinService(this.o.client, this.serviceRef, this.o.rollout.name);
  }

  private async requireFeatures(mirror: boolean): Promise<void> {
    let features = this.features;
    if (!features) {
      const ref = { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: HTTPROUTE_CRD };
      const crd = await typed(() => this.o.client.get(ref));
      if (!crd) throw new TrafficRefused(`the HTTPRoute CRD (${HTTPROUTE_CRD}) is not installed`);
      features = httpRouteFeatures(crd);
    }
    requireFeatures(features, mirror);
    this.features = features;
  }
}
