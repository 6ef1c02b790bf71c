/**
 * A VirtualService and a traffic state, both ways, as pure functions. Istio takes the
 * first `http` route whose match fits, so before each route of the user's that sends to
 * the Service kanari puts one entry per header/cookie route (the user's match with that
 * header added, all to the canary), then a copy of the route (same match, rewrite,
 * headers, timeout, retries…) named `kanari-<rollout>-<k>` whose destinations are the
 * versions' subsets, weighted. The user's routes are never changed, and a stable-only
 * state leaves only them.
 */
import type { KubeObject } from '../../../kube/api.js';
import { describeRef, refOf } from '../../../kube/api.js';
import { TrafficRefused } from '../../../rollout/seams/traffic.js';
import type { HeaderRoute, TrafficState } from '../../../rollout/types.js';
import { conditionOf, routeOf } from '../header-match.js';
import {
  backendsOf,
  checkExpressible,
  isStableOnly,
  ownedName,
  parseOwnedName,
  percentsOf,
  requireAsWritten,
} from '../owned-rules.js';
import { readShape } from '../shape.js';
import { idOfSubset, isServiceHost, subsetName } from './hosts.js';
import {
  virtualService,
  type HttpRoute,
  type MatchRequest,
  type RouteDestination,
  type VirtualService,
} from './shape.js';

export interface VirtualServiceContext {
  rollout: string;
  /** The rollout's (and the VirtualService's) namespace, where short hosts resolve. */
  namespace: string;
  service: string;
  /** The routes to split, by name; default every route whose destination is the Service. */
  routes?: string[];
}

/** Istio matches header names in lowercase; it has no cookie match, so a cookie route is a regex on this header. */
const COOKIE_HEADER = 'cookie';

/**
 * The VirtualService to write for `state`; a stable-only state leaves the user's routes
 * alone unless `holdStable`, which keeps kanari's copies sending everyone to stable's subset.
 */
export function splitVirtualService<T extends KubeObject>(
  object: T,
  state: TrafficState,
  ctx: VirtualServiceContext,
  holdStable = false,
): T {
  const where = describeRef(refOf(object));
  const vs = readShape(virtualService, object, where);
  const user = userRoutes(vs, ctx, where);
  const http: HttpRoute[] = [];
  if (isStableOnly(state) && !holdStable) http.push(...user);
  else {
    checkExpressible(state, ctx.rollout);
    const backends = backendsOf(state);
    // Whole percents sum to 100, which every Istio takes; hundredths need Istio 1.15 or later (weights as proportions).
    const whole = backends.every((b) => Number.isInteger(b.percent));
    const weights = backends.map((b) => (whole ? b.percent : Math.round(b.percent * 100)));
    if ((state.routes.length > 0 || state.mirror > 0) && state.canary === undefined)
      throw new TrafficRefused('header and cookie routes and mirroring need a canary');
    const selected = selectedRoutes(user, ctx, where);
    let k = 0;
    for (const route of user) {
      const dest = selected.get(route);
      if (!dest) {
        http.push(route);
        continue;
      }
      const what = `${where} route ${route.name ?? `#${user.indexOf(route)}`}`;
      const to = (id: string, weight: number): RouteDestination => ({
        ...dest,
        destination: { ...dest.destination, subset: subsetName(id) },
        weight,
      });
      state.routes.forEach((r, n) =>
        http.push({
          ...route,
          name: ownedName(ctx.rollout, { k, route: n }),
          match: withCondition(route.match, r, what),
          route: [to(state.canary!, 100)],
        }),
      );
      if (state.mirror > 0 && (route.mirror || route.mirrors || route.mirrorPercentage))
        throw new TrafficRefused(
          `${what} mirrors already; Istio mirrors a route to one place, so kanari cannot add its own`,
        );
      http.push({
        ...route,
        name: ownedName(ctx.rollout, { k }),
        route: backends.map((b, i) => to(b.id, weights[i]!)),
        ...(state.mirror > 0
          ? {
              mirror: { ...dest.destination, subset: subsetName(state.canary!) },
              mirrorPercentage: { value: state.mirror },
            }
          : {}),
      });
      http.push(route);
      k++;
    }
  }
  return withHttp(object, http);
}

/** The VirtualService with none of this rollout's entries: the user's routes, as written (the Rollout is being deleted). */
export function withoutOwnedRoutes<T extends KubeObject>(object: T, ctx: VirtualServiceContext): T {
  const where = describeRef(refOf(object));
  return withHttp(object, userRoutes(readShape(virtualService, object, where), ctx, where));
}

function withHttp<T extends KubeObject>(object: T, http: HttpRoute[]): T {
  const out = structuredClone(object) as T & { spec: Record<string, unknown> };
  if (http.length > 0 || (object.spec as { http?: unknown } | undefined)?.http !== undefined) out.spec.http = http;
  return out;
}

/** What kanari's entries say, or undefined when there are none (everyone goes by the user's routes). */
export function virtualServiceTraffic(object: KubeObject, ctx: VirtualServiceContext): TrafficState | undefined {
  const where = describeRef(refOf(object));
  const vs = readShape(virtualService, object, where);
  const user = userRoutes(vs, ctx, where);
  const owned = (vs.spec.http ?? []).flatMap((route) => {
    const name = parseOwnedName(ctx.rollout, route.name);
    return name ? [{ route, name }] : [];
  });
  if (owned.length === 0) return undefined;
  const weighted = owned.find((o) => o.name.route === undefined);
  if (!weighted) throw new TrafficRefused(`${where} has kanari's header routes but not its weighted route`);
  const what = `${where} route ${weighted.route.name}`;
  const dests = weighted.route.route ?? [];
  if (dests.length === 0 || dests.length > 3)
    throw new TrafficRefused(`${what} must send to 1–3 version subsets (it has ${dests.length} destinations)`);
  const ids = dests.map((d) => {
    const id = idOfSubset(d.destination.subset);
    if (id === undefined)
      throw new TrafficRefused(`${what} sends to subset ${d.destination.subset ?? '(none)'}, not one of kanari's`);
    return id;
  });
  const percents = percentsOf(dests.map((d) => d.weight ?? (dests.length === 1 ? 100 : 0)));
  const userRoute = [...selectedRoutes(user, ctx, where).keys()][weighted.name.k];
  const routes = owned
    .filter((o) => o.name.k === weighted.name.k && o.name.route !== undefined)
    .sort((a, b) => a.name.route! - b.name.route!)
    .map((o) => routeOfEntry(o.route, userRoute, `${where} route ${o.route.name}`));
  const mirrored = weighted.route.mirror && idOfSubset(weighted.route.mirror.subset) === ids[1];
  const state: TrafficState = {
    stable: ids[0]!,
    ...(ids[1] !== undefined ? { canary: ids[1] } : {}),
    ...(ids[2] !== undefined ? { baseline: ids[2] } : {}),
    weights: { canary: percents[1] ?? 0, baseline: percents[2] ?? 0 },
    routes,
    mirror: mirrored ? (weighted.route.mirrorPercentage?.value ?? 100) : 0,
  };
  // Written again from the user's routes, the VirtualService must be what was read: any other edit to kanari's entries is reported.
  const expected =
    (
      splitVirtualService({ ...object, spec: { ...vs.spec, http: user } }, state, ctx, true)
        .spec as VirtualService['spec']
    ).http ?? [];
  requireAsWritten(where, 'routes', expected, vs.spec.http ?? [], (r) =>
    r.route?.map((d) => [d.destination.subset, d.weight]),
  );
  return state;
}

/** The subsets kanari's entries send to, by instance id (a subset is removed only once nothing sends to it). */
export function subsetsInUse(object: KubeObject, ctx: VirtualServiceContext): Set<string> {
  const vs = readShape(virtualService, object, describeRef(refOf(object)));
  const ids = new Set<string>();
  for (const route of vs.spec.http ?? []) {
    if (!parseOwnedName(ctx.rollout, route.name)) continue;
    for (const d of [...(route.route ?? []).map((r) => r.destination), ...(route.mirror ? [route.mirror] : [])]) {
      const id = idOfSubset(d.subset);
      if (id !== undefined) ids.add(id);
    }
  }
  return ids;
}

/** The user's routes; one named like kanari's that does not send to kanari's subsets is refused, never removed. */
function userRoutes(vs: VirtualService, ctx: VirtualServiceContext, where: string): HttpRoute[] {
  return (vs.spec.http ?? []).filter((route) => {
    if (!parseOwnedName(ctx.rollout, route.name)) return true;
    const foreign = (route.route ?? []).find((d) => idOfSubset(d.destination.subset) === undefined);
    if (foreign || !route.route)
      throw new TrafficRefused(
        `${where} route ${route.name} is named like kanari's own but does not send to kanari's subsets: rename it, kanari does not touch routes it did not write`,
      );
    return false;
  });
}

/** The user's routes kanari splits, in order, each with its one destination (the Service). */
function selectedRoutes(
  user: HttpRoute[],
  ctx: VirtualServiceContext,
  where: string,
): Map<HttpRoute, RouteDestination> {
  const selected = new Map<HttpRoute, RouteDestination>();
  for (const [n, route] of user.entries()) {
    const named = ctx.routes?.includes(route.name ?? '');
    if (ctx.routes && !named) continue;
    const what = `${where} route ${route.name ?? `#${n}`}`;
    const dests = route.route ?? [];
    const ours = dests.filter((d) => isServiceHost(d.destination.host, ctx.service, ctx.namespace));
    if (ours.length === 0) {
      if (named) throw new TrafficRefused(`${what} does not send to Service ${ctx.service}`);
      continue;
    }
    if (dests.length > 1)
      throw new TrafficRefused(
        `${what} sends to ${ctx.service} and elsewhere; kanari splits only routes whose one destination is the Service`,
      );
    selected.set(route, ours[0]!);
  }
  for (const name of ctx.routes ?? [])
    if (!user.some((r) => r.name === name)) throw new TrafficRefused(`${where} has no http route named ${name}`);
  if (selected.size === 0) throw new TrafficRefused(`${where} has no http route that sends to Service ${ctx.service}`);
  return selected;
}

/** Each of the user's match conditions with the route's header added (a route without one matches everything). */
function withCondition(match: MatchRequest[] | undefined, route: HeaderRoute, what: string): MatchRequest[] {
  const { header, condition } = conditionOf(route, COOKIE_HEADER, true);
  const name = header.toLowerCase();
  return (match && match.length > 0 ? match : [{}]).map((m) => {
    if (Object.keys(m.headers ?? {}).some((h) => h.toLowerCase() === name))
      throw new TrafficRefused(`${what} already matches on the ${name} header, so a route on it cannot be added`);
    return { ...m, headers: Object.fromEntries([...Object.entries(m.headers ?? {}), [name, condition]]) };
  });
}

/** The route an entry stands for: the one header its first match has that the user's route does not. */
function routeOfEntry(entry: HttpRoute, user: HttpRoute | undefined, what: string): HeaderRoute {
  const headers = entry.match?.[0]?.headers ?? {};
  const before = new Set(Object.keys(user?.match?.[0]?.headers ?? {}));
  const added = Object.keys(headers).filter((h) => !before.has(h));
  const route = added.length === 1 ? routeOf(added[0]!, headers[added[0]!]!, COOKIE_HEADER) : undefined;
  if (!route) throw new TrafficRefused(`${what} has no header match kanari could have written`);
  return route;
}
