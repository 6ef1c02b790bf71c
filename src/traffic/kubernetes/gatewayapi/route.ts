/**
 * An HTTPRoute and a traffic state, both ways, as pure functions. Before each rule of the
 * user's that sends to the Service, kanari writes a copy of it (same matches, filters,
 * timeouts) named `kanari-<rollout>-<k>` whose backends are the version Services with
 * weights in proportion, stable first, then canary, then baseline. After all the user's
 * rules come the copies for header/cookie routes, one per route and weighted copy, with that
 * condition added (beside other Rollouts' route copies there, in order of Rollout name).
 * The Gateway API gives a tie between equally specific matches of one HTTPRoute to the
 * first rule in list order, so each weighted copy wins over the rule it copies; a route's
 * copy has one more header match, so it is more specific and wins over both wherever it
 * stands, and standing last it loses the ties with user rules of as many header matches
 * (what it cannot keep: docs/kubernetes/gatewayapi.md). So the weighted copies keep their
 * places (and Envoy Gateway's cluster names, which are rule and backendRef positions) while
 * routes come and go. The user's rules are never changed, and a stable-only state leaves only them.
 */
import type { KubeObject } from '../../../kube/api.js';
import { describeRef, refOf } from '../../../kube/api.js';
import { TrafficRefused } from '../../../rollout/seams/traffic.js';
import type { HeaderRoute, TrafficState } from '../../../rollout/types.js';
import { conditionOf, routeOf } from '../header-match.js';
import {
  backendsOf,
  checkExpressible,
  idOfService,
  isStableOnly,
  ownedName,
  parseOwnedName,
  percentsOf,
  proportions,
  requireAsWritten,
  versionService,
} from '../owned-rules.js';
import { readShape } from '../shape.js';
import {
  httpRoute,
  type BackendFilter,
  type BackendRef,
  type Filter,
  type HeaderMatch,
  type HttpRoute,
  type Rule,
  type RouteMatch,
} from './shape.js';

export interface RouteContext {
  rollout: string;
  /** Where the rollout, its Service and the version Services are. */
  namespace: string;
  /** `port` is used where the user's backendRef names none. */
  service: { name: string; port?: number | undefined };
  /**
   * A request header each weighted backendRef sets to its version's instance id, when the
   * judge counts from Envoy Gateway: a backendRef filter is what makes it count each
   * backendRef apart (versionHeaderFilter).
   */
  versionHeader?: string | undefined;
}

/** An HTTPRoute holds at most this many rules (the CRD's limit). */
export const MAX_RULES = 16;
/** And a match at most this many header matches. */
const MAX_HEADERS = 16;
/** Gateway API has no cookie match: a cookie route matches this header by regular expression. */
const COOKIE_HEADER = 'Cookie';

/**
 * The route to write for `state`: the user's rules as they are, with kanari's copies before
 * those that send to the Service. A stable-only state leaves the user's rules alone unless
 * `holdStable`, which keeps kanari's copies sending everyone to stable's own Service.
 */
export function splitRoute<T extends KubeObject>(
  object: T,
  state: TrafficState,
  ctx: RouteContext,
  holdStable = false,
): T {
  const where = describeRef(refOf(object));
  const route = readShape(httpRoute, object, where);
  const user = userRules(route, ctx, where);
  const rules: Rule[] = [];
  if (isStableOnly(state) && !holdStable) rules.push(...user);
  else {
    checkExpressible(state, ctx.rollout);
    const backends = backendsOf(state);
    const weights = proportions(backends.map((b) => b.percent));
    if (state.routes.length > 0 && state.canary === undefined)
      throw new TrafficRefused('header and cookie routes need a canary to send to');
    if (state.mirror > 0 && state.canary === undefined) throw new TrafficRefused('mirroring needs a canary to copy to');
    let k = 0;
    const routeCopies: Rule[] = [];
    for (const [n, rule] of user.entries()) {
      const ref = serviceRef(rule, route, ctx, `${where} spec.rules[${n}]`);
      if (!ref) {
        rules.push(rule);
        continue;
      }
      const to = (id: string, weight: number): BackendRef => ({
        ...ref,
        group: '',
        kind: 'Service',
        name: versionService(ctx.rollout, id),
        ...(ref.port === undefined && ctx.service.port !== undefined ? { port: ctx.service.port } : {}),
        weight,
      });
      const counted = (id: string, weight: number): BackendRef =>
        ctx.versionHeader === undefined ? to(id, weight) : withVersionHeader(to(id, weight), ctx.versionHeader, id);
      state.routes.forEach((r, i) =>
        routeCopies.push({
          ...rule,
          name: ownedName(ctx.rollout, { k, route: i }),
          matches: withCondition(rule.matches, headerMatchOf(r), `${where} spec.rules[${n}]`),
          backendRefs: [to(state.canary!, 1)],
        }),
      );
      const filters = [...(rule.filters ?? [])];
      if (state.mirror > 0) filters.push(mirrorFilter(to(state.canary!, 1), state.mirror));
      rules.push({
        ...rule,
        name: ownedName(ctx.rollout, { k }),
        ...(filters.length > 0 ? { filters } : {}),
        backendRefs: backends.map((b, i) => counted(b.id, weights[i]!)),
      });
      rules.push(rule);
      k++;
    }
    rules.splice(routeCopiesAt(rules, ctx.rollout), 0, ...routeCopies);
    if (k === 0) throw new TrafficRefused(`${where} has no rule that sends to Service ${ctx.service.name}`);
    if (rules.length > MAX_RULES)
      throw new TrafficRefused(
        `${where} would need ${rules.length} rules with kanari's, more than the ${MAX_RULES} an HTTPRoute may have: fewer header routes, or fewer rules sending to ${ctx.service.name}`,
      );
  }
  return withRules(object, rules);
}

/** The route with none of this rollout's rules: the user's, as written (the Rollout is being deleted). */
export function withoutOwnedRules<T extends KubeObject>(object: T, ctx: RouteContext): T {
  const where = describeRef(refOf(object));
  return withRules(object, userRules(readShape(httpRoute, object, where), ctx, where));
}

function withRules<T extends KubeObject>(object: T, rules: Rule[]): T {
  const out = structuredClone(object) as T & { spec: Record<string, unknown> };
  if (rules.length > 0 || (object.spec as { rules?: unknown } | undefined)?.rules !== undefined) out.spec.rules = rules;
  return out;
}

/** What kanari's rules in the route say, or undefined when it has none (everyone goes by the user's rules). */
export function routeTraffic(object: KubeObject, ctx: RouteContext): TrafficState | undefined {
  const where = describeRef(refOf(object));
  const route = readShape(httpRoute, object, where);
  const user = userRules(route, ctx, where);
  const owned = (route.spec.rules ?? []).flatMap((rule) => {
    const name = parseOwnedName(ctx.rollout, rule.name);
    return name ? [{ rule, name }] : [];
  });
  if (owned.length === 0) return undefined;
  const weighted = owned.find((o) => o.name.route === undefined);
  if (!weighted) throw new TrafficRefused(`${where} has kanari's route rules but not its weights rule`);
  const refs = weighted.rule.backendRefs ?? [];
  const what = `${where} rule ${weighted.rule.name}`;
  if (refs.length === 0 || refs.length > 3)
    throw new TrafficRefused(`${what} must send to 1–3 version Services (it has ${refs.length} backends)`);
  const ids = refs.map((ref) => {
    const id = idOfService(ctx.rollout, ref.name);
    if (id === undefined || ref.name === ctx.service.name)
      throw new TrafficRefused(
        `${what} sends to ${ref.name}, which is not a version Service of rollout ${ctx.rollout}`,
      );
    return id;
  });
  const percents = percentsOf(refs.map((r) => r.weight ?? 1));
  const routes = owned
    .filter((o) => o.name.k === weighted.name.k && o.name.route !== undefined)
    .sort((a, b) => a.name.route! - b.name.route!)
    .map((o) => routeOfRule(o.rule, `${where} rule ${o.rule.name}`));
  const state: TrafficState = {
    stable: ids[0]!,
    ...(ids[1] !== undefined ? { canary: ids[1] } : {}),
    ...(ids[2] !== undefined ? { baseline: ids[2] } : {}),
    weights: { canary: percents[1] ?? 0, baseline: percents[2] ?? 0 },
    routes,
    mirror: mirrorOf(weighted.rule.filters?.at(-1), ids[1] === undefined ? undefined : refs[1]!.name),
  };
  // Written again from the user's rules, the route must be what was read: any other edit to kanari's rules is reported.
  const expected = splitRoute({ ...object, spec: { ...route.spec, rules: user } }, state, ctx, true);
  const written = (expected.spec as HttpRoute['spec']).rules ?? [];
  requireAsWritten(where, 'rules', written, route.spec.rules ?? [], (r) =>
    r.backendRefs?.map((b) => [b.name, b.weight]),
  );
  return state;
}

/** Any Rollout's header-route copy, by its name: `kanari-<rollout>-<k>-route-<n>`. */
const ROUTE_COPY = /^kanari-(.+)-\d{1,4}-route-\d{1,4}$/;

/**
 * Where this rollout's route copies go: after the user's rules, and among other Rollouts'
 * route copies at the end of the list in order of Rollout name, so that Rollouts sharing the
 * route each find the others' copies where they left them and do not undo each other's writes.
 */
function routeCopiesAt(rules: Rule[], rollout: string): number {
  let at = rules.length;
  for (; at > 0; at--) {
    const other = ROUTE_COPY.exec(rules[at - 1]!.name ?? '')?.[1];
    if (other === undefined || other < rollout) break;
  }
  return at;
}

/** The user's rules: every rule not named as kanari's; a rule named as kanari's that sends to the user's Service is refused, never removed. */
export function userRules(route: HttpRoute, ctx: RouteContext, where: string): Rule[] {
  return (route.spec.rules ?? []).filter((rule) => {
    if (!parseOwnedName(ctx.rollout, rule.name)) return true;
    const foreign = (rule.backendRefs ?? []).find(
      (ref) => ref.name === ctx.service.name || idOfService(ctx.rollout, ref.name) === undefined,
    );
    if (foreign)
      throw new TrafficRefused(
        `${where} rule ${rule.name} is named like kanari's own but sends to ${foreign.name}: rename it, kanari does not touch rules it did not write`,
      );
    return false;
  });
}

/** The rule's one backend if it is the Service; undefined if it sends elsewhere; refused if it mixes the two. */
export function serviceRef(rule: Rule, route: HttpRoute, ctx: RouteContext, where: string): BackendRef | undefined {
  const refs = rule.backendRefs ?? [];
  const routeNamespace = route.metadata.namespace ?? ctx.namespace;
  const isService = (ref: BackendRef) =>
    (ref.group ?? '') === '' &&
    (ref.kind ?? 'Service') === 'Service' &&
    ref.name === ctx.service.name &&
    (ref.namespace ?? routeNamespace) === ctx.namespace;
  const ours = refs.filter(isService);
  if (ours.length === 0) return undefined;
  if (refs.length > 1)
    throw new TrafficRefused(
      `${where} sends to ${ctx.service.name} and to other backends; kanari splits only rules whose one backend is the Service`,
    );
  return ours[0];
}

function headerMatchOf(route: HeaderRoute): HeaderMatch {
  const { header, condition } = conditionOf(route, COOKIE_HEADER, false);
  return 'exact' in condition
    ? { type: 'Exact', name: header, value: condition.exact }
    : { type: 'RegularExpression', name: header, value: 'regex' in condition ? condition.regex : condition.prefix };
}

/** Each of the user's matches with the route's header match added (a rule without matches matches every path). */
function withCondition(matches: RouteMatch[] | undefined, added: HeaderMatch, where: string): RouteMatch[] {
  const list: RouteMatch[] = matches && matches.length > 0 ? matches : [{ path: { type: 'PathPrefix', value: '/' } }];
  return list.map((m) => {
    const headers = m.headers ?? [];
    if (headers.some((h) => h.name.toLowerCase() === added.name.toLowerCase()))
      throw new TrafficRefused(
        `${where} already matches on the ${added.name} header, so a route on it cannot be added`,
      );
    if (headers.length >= MAX_HEADERS)
      throw new TrafficRefused(
        `${where} has ${headers.length} header matches, and a match may have at most ${MAX_HEADERS}`,
      );
    return { ...m, headers: [...headers, added] };
  });
}

function routeOfRule(rule: Rule, what: string): HeaderRoute {
  const added = rule.matches?.[0]?.headers?.at(-1);
  const route = added
    ? routeOf(
        added.name,
        added.type === 'RegularExpression' ? { regex: added.value } : { exact: added.value },
        COOKIE_HEADER,
      )
    : undefined;
  if (!route) throw new TrafficRefused(`${what} has no header match kanari could have written`);
  return route;
}

/**
 * The backendRef setting `header` to the version's id, so Envoy Gateway makes it a cluster of
 * its own (it does for any backendRef with filters) and the app may see who served; `set`
 * overwrites what a client sent. A modifier the user's backendRef has already takes the entry
 * (the Gateway API allows one filter of a type).
 */
function withVersionHeader(ref: BackendRef, header: string, id: string): BackendRef {
  const entry = { name: header, value: id };
  const filters: BackendFilter[] = [...(ref.filters ?? [])];
  const at = filters.findIndex((f) => f.type === 'RequestHeaderModifier');
  if (at < 0) filters.push({ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [entry] } });
  else {
    const modifier = filters[at]!.requestHeaderModifier ?? {};
    const set = (modifier.set ?? []).filter((h) => h.name.toLowerCase() !== header.toLowerCase());
    // The CRD allows 16 entries; a 17th would fail the write with the API server's 422 instead of a reason.
    if (set.length >= MAX_HEADERS)
      throw new TrafficRefused(
        `a backendRef of the rule kanari copies already sets ${set.length} headers, the most the HTTPRoute CRD allows, and counting with Envoy Gateway needs one more (${header})`,
      );
    // A user's `remove` of the same header would contradict kanari's `set`: the set wins.
    const removed = (modifier as { remove?: unknown }).remove;
    const remove = Array.isArray(removed)
      ? { remove: removed.filter((h) => typeof h !== 'string' || h.toLowerCase() !== header.toLowerCase()) }
      : {};
    filters[at] = { ...filters[at]!, requestHeaderModifier: { ...modifier, set: [...set, entry], ...remove } };
  }
  return { ...ref, filters };
}

/** A percent mirror: `percent` for whole ones, `fraction` in hundredths of a percent otherwise. */
function mirrorFilter(backendRef: BackendRef, percent: number): Filter {
  // A mirror's backendRef is a plain reference: no weight, no filters of its own.
  const { weight: _weight, filters: _filters, ...ref } = backendRef;
  return {
    type: 'RequestMirror',
    requestMirror: {
      backendRef: ref,
      ...(Number.isInteger(percent)
        ? { percent }
        : { fraction: { numerator: Math.round(percent * 100), denominator: 10_000 } }),
    },
  };
}

function mirrorOf(filter: Filter | undefined, canaryService: string | undefined): number {
  const m = filter?.type === 'RequestMirror' ? filter.requestMirror : undefined;
  if (!m || canaryService === undefined || m.backendRef?.name !== canaryService) return 0;
  if (m.percent !== undefined) return m.percent;
  if (m.fraction) return Math.round((m.fraction.numerator * 10_000) / (m.fraction.denominator ?? 100)) / 100;
  return 100;
}
