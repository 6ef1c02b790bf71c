/**
 * What the Gateway API and Istio routers share: the names kanari writes — one Service
 * per version (`<rollout>-<id>`, which the deployment target creates) and rules or routes
 * named `kanari-<rollout>-<k>` (and `…-<k>-route-<n>` for header and cookie routes), `k`
 * counting the user's rules kanari splits (the index makes each name unique when a user
 * sends several rules to the Service; the strict pattern keeps rollout `web` from taking
 * rollout `web-1`'s rules) — a state's backends and weights as proportions, and the check
 * that kanari's rules read back are as it wrote them.
 */
import { instanceName } from '../../config/presets/counts.js';
import type { TrafficState } from '../../rollout/types.js';
import { TrafficRefused } from '../../rollout/seams/traffic.js';

/** The Service kanari runs an instance behind. */
export function versionService(rollout: string, id: string): string {
  return instanceName(rollout, id);
}

/** The instance id a version Service stands for, or undefined when the name is not one of this rollout's. */
export function idOfService(rollout: string, service: string): string | undefined {
  const prefix = `${rollout}-`;
  return service.startsWith(prefix) && service.length > prefix.length ? service.slice(prefix.length) : undefined;
}

/** A weights rule (no route) or the n-th header/cookie route of the k-th rule kanari splits. */
export interface OwnedName {
  k: number;
  route?: number;
}

export function ownedName(rollout: string, name: OwnedName): string {
  return `kanari-${rollout}-${name.k}${name.route === undefined ? '' : `-route-${name.route}`}`;
}

/** Whether a rule or route name is this rollout's, and which. */
export function parseOwnedName(rollout: string, name: unknown): OwnedName | undefined {
  if (typeof name !== 'string' || !name.startsWith(`kanari-${rollout}-`)) return undefined;
  const m = /^(\d{1,4})(?:-route-(\d{1,4}))?$/.exec(name.slice(`kanari-${rollout}-`.length));
  if (!m) return undefined;
  return { k: Number(m[1]), ...(m[2] === undefined ? {} : { route: Number(m[2]) }) };
}

/** The instances a state routes to, each with its role; a baseline without a canary has no place. */
export function backendsOf(state: TrafficState): { id: string; percent: number }[] {
  if (state.baseline !== undefined && state.canary === undefined)
    throw new TrafficRefused('a baseline without a canary cannot be routed');
  const { canary, baseline } = state.weights;
  for (const [what, w] of [
    ['canary', canary],
    ['baseline', baseline],
  ] as const)
    if (!Number.isFinite(w) || w < 0 || w > 100)
      throw new TrafficRefused(`the ${what} weight must be 0–100 (got ${w})`);
  if (canary + baseline > 100) throw new TrafficRefused(`canary and baseline weights add up to more than 100`);
  const out = [{ id: state.stable, percent: 100 - canary - (state.baseline === undefined ? 0 : baseline) }];
  if (state.canary !== undefined) out.push({ id: state.canary, percent: canary });
  if (state.baseline !== undefined) out.push({ id: state.baseline, percent: baseline });
  return out;
}

/** A state kanari serves by leaving the user's object as written: everyone on stable, nothing else. */
export function isStableOnly(state: TrafficState): boolean {
  return (
    state.canary === undefined &&
    state.baseline === undefined &&
    state.routes.length === 0 &&
    state.mirror === 0 &&
    state.weights.canary === 0 &&
    state.weights.baseline === 0
  );
}

/**
 * What a route without kanari's rules serves: everyone by the user's rules to the Service,
 * which is stable, whichever version the last state asked for calls stable; nothing yet
 * before kanari asked for anything.
 */
export function servedByUserRules(last: Pick<TrafficState, 'stable'> | undefined): TrafficState | undefined {
  return last && { stable: last.stable, weights: { canary: 0, baseline: 0 }, routes: [], mirror: 0 };
}

/** Refuses what no Kubernetes router here can express: a rolling update's per-instance sizes, names Services cannot have. */
export function checkExpressible(state: TrafficState, rollout: string): void {
  if (state.sizes && Object.keys(state.sizes).length > 0)
    throw new TrafficRefused(
      'routing to some of an instance’s pods (a rolling update) is not something a route can say',
    );
  for (const id of [state.stable, state.canary, state.baseline]) {
    if (id === undefined) continue;
    const name = versionService(rollout, id);
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name))
      throw new TrafficRefused(
        `the Service for version ${id} would be named "${name}", which is not a valid Service name`,
      );
  }
}

/**
 * Integer weights in the ratio of `percents` (each a multiple of 0.01): hundredths, reduced
 * by their common divisor so 25% reads 3:1. Zero stays zero (a backend kept, sent nothing).
 */
export function proportions(percents: number[]): number[] {
  const units = percents.map((p) => Math.round(p * 100));
  const divisor = units.reduce((a, b) => gcd(a, b), 0) || 1;
  return units.map((u) => u / divisor);
}

/** The percent each weight stands for, rounded to 0.01 as a rollout's weights are. */
export function percentsOf(weights: number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => (total === 0 ? 0 : Math.round((w * 10_000) / total) / 100));
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** JSON with object keys sorted, so two objects that differ only in key order compare equal. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/**
 * Refuses a route list that is not what kanari would write from the user's part of it for
 * the state read from it: someone edited kanari's entries. Names the entry that differs, or
 * the two weighted entries that disagree (the state is read from the first).
 */
export function requireAsWritten<T extends { name?: string | undefined }>(
  where: string,
  noun: string,
  written: T[],
  actual: T[],
  weightsOf: (entry: T) => unknown,
): void {
  if (covers(actual, written)) return;
  const owned = actual.filter((e) => written.some((w) => w.name === e.name) && e.name?.startsWith('kanari-'));
  const weighted = owned.filter((e) => !e.name!.includes('-route-'));
  const disagree = weighted.find((e) => canonicalJson(weightsOf(e)) !== canonicalJson(weightsOf(weighted[0]!)));
  const changed = owned.find((e) => {
    const w = written.find((x) => x.name === e.name);
    return !w || !covers(e, w);
  });
  const why = disagree
    ? `${weighted[0]!.name} and ${disagree.name} send in different weights`
    : changed
      ? `${changed.name} differs`
      : 'moved, or one is missing';
  throw new TrafficRefused(
    `kanari's ${noun} in ${where} are not as kanari wrote them (${why}); kanari writes them again on its next apply`,
  );
}

/**
 * Whether `actual` holds everything `written` does: the same lists, item by item, and every
 * field written with the same value. Fields only `actual` has are what the API server
 * filled in from the CRD's defaults (a backend's `weight: 1`, a mirror's `kind`), which
 * differ between Gateway API and Istio versions.
 */
export function covers(actual: unknown, written: unknown): boolean {
  if (Array.isArray(written))
    return Array.isArray(actual) && actual.length === written.length && written.every((w, i) => covers(actual[i], w));
  if (written !== null && typeof written === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    return Object.entries(written).every(
      // A field written as undefined is one kanari takes out: covered only once it is gone.
      ([k, v]) =>
        v === undefined
          ? !Object.hasOwn(actual, k)
          : Object.hasOwn(actual, k) && covers((actual as Record<string, unknown>)[k], v),
    );
  }
  return actual === written;
}

/**
 * When kanari's rules may go once everyone is on stable: they keep sending everyone to
 * stable's own Service for `holdMs` after they first did, and go at the first write after
 * that (the engine writes its state again every few rounds). Until then the user's rules,
 * which send to the user's Service, would not reach stable alone:
 * - Istio: that Service selects every version's pods (they keep the template's labels), so
 *   a version being stopped would get a share by its ready pods.
 * - Gateway API: the Service is narrowed to stable (service-pin.ts), but a promotion moves
 *   its selector in the same apply, and its endpoints follow late: the endpoints controller
 *   rewrites its EndpointSlices, and the gateway's proxy learns them later still. Till then
 *   the Service reaches the old stable, which the engine stops 2 s after the stable-only
 *   state reads back, so rules gone at once would send everyone back to the old version,
 *   then to pods going away (rules gone before the move: the same, only sooner). A rollback
 *   leaves the selector still, but a Service narrowed late (replaced mid-release,
 *   a release begun under a kanari that did not narrow it) has the same window; the hold
 *   costs only 30 s more of kanari's rules, so it stays for both.
 */
/** Long enough for a Service's endpoints to follow its selector, or a stopped version's pods to leave them, on a busy cluster. */
export const STABLE_HOLD_MS = 30_000;

export class StableHold {
  private since?: number;

  constructor(
    private readonly holdMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether kanari's rules stay for `desired`, given what they serve now (undefined: there are none). */
  holds(desired: TrafficState, served: () => TrafficState | undefined): boolean {
    if (!isStableOnly(desired)) {
      this.since = undefined;
      return false;
    }
    let now: TrafficState | undefined;
    try {
      now = served();
    } catch (err) {
      if (!(err instanceof TrafficRefused)) throw err;
      now = { ...desired, canary: '(unreadable)' };
    }
    if (now === undefined) return false;
    if (now.stable !== desired.stable || !isStableOnly(now)) {
      this.since = this.now();
      return true;
    }
    this.since ??= this.now();
    return this.now() - this.since < this.holdMs;
  }
}
