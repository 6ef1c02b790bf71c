/**
 * kanari's subsets in the user's DestinationRule: `kanari-<id>`, selecting one version's
 * pods by label. Subsets keep the DestinationRule's host, so the traffic policy the user
 * set for the Service (TLS, connection pools, outlier detection) applies to every version,
 * and the mesh's telemetry and policies still see one Service; routing to per-version
 * Services as hosts instead would leave all of that behind. The user's subsets are never
 * changed.
 */
import type { KubeObject } from '../../../kube/api.js';
import { describeRef, refOf } from '../../../kube/api.js';
import { TrafficRefused } from '../../../rollout/seams/traffic.js';
import { canonicalJson } from '../owned-rules.js';
import { readShape } from '../shape.js';
import { idOfSubset, isServiceHost, subsetLabels, subsetName } from './hosts.js';
import { destinationRule, type Subset } from './shape.js';

export interface DestinationRuleContext {
  rollout: string;
  namespace: string;
  service: string;
}

/** The DestinationRule with kanari's subsets for exactly `ids`, added after the user's. */
export function withSubsets<T extends KubeObject>(object: T, ids: Iterable<string>, ctx: DestinationRuleContext): T {
  const { user } = readSubsets(object, ctx);
  const ours = [...new Set(ids)].sort().map((id) => ({ name: subsetName(id), labels: subsetLabels(ctx.rollout, id) }));
  for (const s of ours)
    if (user.some((u) => u.name === s.name))
      throw new TrafficRefused(
        `${describeRef(refOf(object))} has a subset named ${s.name} that kanari did not write: rename it`,
      );
  const subsets = [...user, ...ours];
  const out = structuredClone(object) as T & { spec: Record<string, unknown> };
  // A list only kanari's subsets were in goes with them: the object is left as the user wrote it.
  if (subsets.length > 0 || user.length > 0) out.spec.subsets = subsets;
  else out.spec.subsets = undefined; // taken out (and so written: see covers)
  return out;
}

/** The instance ids kanari has subsets for now. */
export function subsetIds(object: KubeObject, ctx: DestinationRuleContext): string[] {
  return readSubsets(object, ctx).ours.map((s) => idOfSubset(s.name)!);
}

/** The ids among `ids` that have no subset of kanari's as kanari writes it. */
export function missingSubsets(object: KubeObject, ids: Iterable<string>, ctx: DestinationRuleContext): string[] {
  const { ours } = readSubsets(object, ctx);
  const written = new Set(ours.map((s) => canonicalJson(s)));
  return [...ids].filter(
    (id) => !written.has(canonicalJson({ name: subsetName(id), labels: subsetLabels(ctx.rollout, id) })),
  );
}

/** The user's subsets and kanari's (named `kanari-…` and selecting this rollout's pods). */
function readSubsets(object: KubeObject, ctx: DestinationRuleContext): { user: Subset[]; ours: Subset[] } {
  const where = describeRef(refOf(object));
  const dr = readShape(destinationRule, object, where);
  if (!isServiceHost(dr.spec.host, ctx.service, ctx.namespace))
    throw new TrafficRefused(`${where} is for host ${dr.spec.host}, not Service ${ctx.service}`);
  const subsets = dr.spec.subsets ?? [];
  const isOurs = (s: Subset) => idOfSubset(s.name) !== undefined && s.labels?.['kanari.dev/rollout'] === ctx.rollout;
  return { user: subsets.filter((s) => !isOurs(s)), ours: subsets.filter(isOurs) };
}
