/**
 * Where Envoy Gateway counts each version's requests behind this router. It names a cluster
 * `httproute/<ns>/<route>/rule/<rule position>`, and one per backendRef, `…/backend/<position>`,
 * when a backendRef of the rule carries filters (envoyproxy/gateway internal/ir/xds.go
 * HasFiltersInSettings; internal/gatewayapi/helpers.go irDestinationSettingName). So kanari's
 * weighted copies set a version header on each backendRef (route.ts), and a version's clusters
 * are its backendRef in each weighted copy: the copy's place in `spec.rules` and the version's
 * in the copy, both fixed while the user's rules stay as they are.
 */
import { envoyGatewayCluster } from '../../../config/presets/counts.js';
import { VERSIONS, type Version } from '../../../config/schemas/table.js';
import { describeRef, refOf, type KubeObject } from '../../../kube/api.js';
import { TrafficRefused } from '../../../rollout/seams/traffic.js';
import { parseOwnedName } from '../owned-rules.js';
import { readShape } from '../shape.js';
import { serviceRef, userRules, type RouteContext } from './route.js';
import { httpRoute } from './shape.js';

/** The header each weighted backendRef sets to its version's instance id (`set`, so a client cannot forge it). */
export const VERSION_HEADER = 'x-kanari-version';

/** A version's backendRef position in a weighted copy: stable, canary, baseline, as backendsOf lists them. */
export const BACKEND_POSITION: Record<Version, number> = { stable: 0, canary: 1, baseline: 2 };

/**
 * Where splitRoute puts the weighted copies in `spec.rules`, from the user's rules alone:
 * right before each rule that sends to the Service (the header-route copies come after all).
 */
export function weightedCopyPositions(object: KubeObject, ctx: RouteContext): number[] {
  const where = describeRef(refOf(object));
  const route = readShape(httpRoute, object, where);
  const positions: number[] = [];
  userRules(route, ctx, where).forEach((rule, n) => {
    if (serviceRef(rule, route, ctx, `${where} spec.rules[${n}]`)) positions.push(n + positions.length);
  });
  if (positions.length === 0)
    throw new TrafficRefused(`${where} has no rule that sends to Service ${ctx.service.name}`);
  return positions;
}

/** Each version's Envoy clusters behind this HTTPRoute: one per weighted copy, which the judge sums. */
export function countedClusters(object: KubeObject, ctx: RouteContext): Record<Version, string[]> {
  refuseShared(object, ctx);
  const namespace = object.metadata.namespace ?? ctx.namespace;
  const rules = weightedCopyPositions(object, ctx);
  const clusters = (v: Version) =>
    rules.map((rule) =>
      envoyGatewayCluster({ namespace, name: object.metadata.name, rule, backend: BACKEND_POSITION[v] }),
    );
  return Object.fromEntries(VERSIONS.map((v) => [v, clusters(v)])) as Record<Version, string[]>;
}

/**
 * Another Rollout's copies in the route (its release runs) come and go by themselves, and
 * each moves the positions this Rollout's clusters are named by: counted then, the judge
 * could read the other Rollout's versions as its own. So a release counted by Envoy
 * Gateway starts only while no other release is in its HTTPRoute (the next reconcile tries
 * again), and two such releases on one route take turns.
 */
function refuseShared(object: KubeObject, ctx: RouteContext): void {
  const rules = (object.spec as { rules?: unknown } | undefined)?.rules;
  for (const rule of Array.isArray(rules) ? rules : []) {
    const name = (rule as { name?: unknown } | null)?.name;
    if (typeof name !== 'string' || parseOwnedName(ctx.rollout, name)) continue;
    const other = OWNED.exec(name)?.[1];
    if (other !== undefined)
      throw new TrafficRefused(
        `${describeRef(refOf(object))} holds rules of Rollout ${other}, whose release moves where Envoy Gateway counts this one's versions: waiting until its release ends`,
      );
  }
}

/** Any Rollout's rule name, as ownedName writes it. */
const OWNED = /^kanari-(.+)-\d{1,4}(?:-route-\d{1,4})?$/;
