/**
 * Istio as the data plane: kanari's subsets in the user's DestinationRule and its entries
 * in the user's VirtualService, each written by read-modify-write at the version read (the
 * `http` and `subsets` lists are atomic), and read back to say what is served. Subsets are
 * added before a route names them and removed only at the apply after the last route that
 * named them is gone, so no proxy is sent to a subset it has not heard of.
 */
import type { z } from 'zod';
import type { istioRouting } from '../../../config/schemas/kubernetes.js';
import { ISTIO } from '../../../config/capabilities.js';
import { describeRef, type KubeObject, type ObjectRef } from '../../../kube/api.js';
import { updateObject } from '../../../kube/update.js';
import { TrafficRefused, sameTraffic, type TrafficCapability } from '../../../rollout/seams/traffic.js';
import type { TrafficState } from '../../../rollout/types.js';
import { editIfThere, typed, type KubernetesRouterOptions, type KubernetesTrafficRouter } from '../kube-router.js';
import { backendsOf, covers, isStableOnly, servedByUserRules, STABLE_HOLD_MS, StableHold } from '../owned-rules.js';
import { missingSubsets, subsetIds, withSubsets, type DestinationRuleContext } from './destination-rule.js';
import {
  splitVirtualService,
  subsetsInUse,
  virtualServiceTraffic,
  withoutOwnedRoutes,
  type VirtualServiceContext,
} from './virtual-service.js';

/** v1beta1: served by every Istio since 1.5 and still by the newest, with the same fields as v1. */
const API_VERSION = 'networking.istio.io/v1beta1';

export class IstioTraffic implements KubernetesTrafficRouter {
  readonly name = ISTIO.name;
  readonly supports: ReadonlySet<TrafficCapability> = ISTIO.supports;
  /** Weights pick a subset for each request. */
  readonly assignment = 'request' as const;

  private readonly virtualService: ObjectRef;
  private readonly destinationRule: ObjectRef;
  private readonly vsCtx: VirtualServiceContext;
  private readonly drCtx: DestinationRuleContext;
  private last?: TrafficState;
  private readonly hold: StableHold;

  constructor(private readonly o: KubernetesRouterOptions<z.output<typeof istioRouting>> & { holdMs?: number }) {
    this.hold = new StableHold(o.holdMs ?? STABLE_HOLD_MS);
    const namespace = o.rollout.namespace;
    const { virtualService, destinationRule } = o.routing;
    this.virtualService = { apiVersion: API_VERSION, kind: 'VirtualService', namespace, name: virtualService.name };
    this.destinationRule = { apiVersion: API_VERSION, kind: 'DestinationRule', namespace, name: destinationRule.name };
    this.drCtx = { rollout: o.rollout.name, namespace, service: o.service.name };
    this.vsCtx = { ...this.drCtx, ...(virtualService.routes ? { routes: virtualService.routes } : {}) };
  }

  async apply(desired: TrafficState): Promise<void> {
    const ids = isStableOnly(desired) ? [] : backendsOf(desired).map((b) => b.id);
    await this.editSubsets((current) => [...current, ...ids]);
    let named = new Set<string>();
    await this.edit(this.virtualService, (vs) => {
      named = subsetsInUse(vs, this.vsCtx);
      const hold = this.hold.holds(desired, () => virtualServiceTraffic(vs, this.vsCtx));
      return splitVirtualService(vs, desired, this.vsCtx, hold);
    });
    await this.editSubsets(() => [...ids, ...named]);
    this.last = desired;
  }

  async observe(): Promise<TrafficState | undefined> {
    const vs = await this.read(this.virtualService);
    const state = virtualServiceTraffic(vs, this.vsCtx);
    if (!state) return servedByUserRules(this.last);
    const ids = [state.stable, state.canary, state.baseline].filter((id): id is string => id !== undefined);
    const missing = missingSubsets(await this.read(this.destinationRule), ids, this.drCtx);
    if (missing.length > 0)
      throw new TrafficRefused(
        `${describeRef(this.destinationRule)} has no subset kanari-${missing[0]} that ${describeRef(this.virtualService)} sends to (removed by someone else?)`,
      );
    // Istio matches header names in lowercase: the state asked for, with its header names as written, is what is served.
    const asked = this.last && {
      ...this.last,
      routes: this.last.routes.map((r) => (r.header ? { ...r, header: r.header.toLowerCase() } : r)),
    };
    return asked && sameTraffic(state, asked) ? this.last : state;
  }

  /** Takes kanari's routes out of the VirtualService, then its subsets out of the DestinationRule (nothing names them any more). */
  async giveBack(): Promise<void> {
    const unchanged = (edit: (o: KubeObject) => KubeObject) => (current: KubeObject) => {
      const next = edit(current);
      return covers(current, next) ? undefined : next;
    };
    await editIfThere(
      this.o.client,
      this.virtualService,
      unchanged((vs) => withoutOwnedRoutes(vs, this.vsCtx)),
    );
    await editIfThere(
      this.o.client,
      this.destinationRule,
      unchanged((dr) => withSubsets(dr, [], this.drCtx)),
    );
  }

  private editSubsets(ids: (current: string[]) => string[]): Promise<void> {
    return this.edit(this.destinationRule, (dr) => withSubsets(dr, ids(subsetIds(dr, this.drCtx)), this.drCtx));
  }

  private async edit(ref: ObjectRef, change: (current: KubeObject) => KubeObject): Promise<void> {
    await typed(() =>
      updateObject<KubeObject>(this.o.client, ref, (current) => {
        const next = change(current);
        return covers(current, next) ? undefined : next;
      }),
    );
  }

  private async read(ref: ObjectRef): Promise<KubeObject> {
    const object = await typed(() => this.o.client.get(ref));
    if (!object) throw new TrafficRefused(`${describeRef(ref)} does not exist`);
    return object;
  }
}
