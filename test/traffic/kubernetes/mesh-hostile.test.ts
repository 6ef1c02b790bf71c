/**
 * Objects read back from the cluster may be anything a user wrote: the routes kanari
 * writes, mutated at random (a node replaced by null, a string, a number, a list, a map,
 * a huge string or list; a node deleted), must make the Gateway API and Istio routers'
 * pure functions either answer or refuse with a `TrafficRefused` — never another error.
 * Seeded: a failure names its case.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../../src/kube/api.js';
import { TrafficRefused } from '../../../src/rollout/seams/traffic.js';
import { routeTraffic, splitRoute } from '../../../src/traffic/kubernetes/gatewayapi/route.js';
import { subsetIds, withSubsets } from '../../../src/traffic/kubernetes/istio/destination-rule.js';
import { splitVirtualService, virtualServiceTraffic } from '../../../src/traffic/kubernetes/istio/virtual-service.js';
import { Rng } from '../../helpers/fuzz-random.js';
import {
  ROLLOUT,
  SERVICE,
  splitAt,
  userDestinationRule,
  userHttpRoute,
  userVirtualService,
} from '../../helpers/kube/mesh-objects.js';

const SEED = 15;
const CASES = 150;
const ctx = { rollout: ROLLOUT.name, namespace: ROLLOUT.namespace, service: SERVICE };
const istioCtx = { rollout: ROLLOUT.name, namespace: ROLLOUT.namespace, service: SERVICE.name };
const state = splitAt(25, {
  routes: [
    { header: 'x-canary', value: 'yes' },
    { cookie: 'c', prefix: 'b' },
  ],
  mirror: 5,
});

/** Every path to a node inside `value`. */
function paths(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [at];
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return [at, ...keys.flatMap((k) => paths((value as Record<string | number, unknown>)[k], [...at, k]))];
}

function mutate(object: KubeObject, rng: Rng): KubeObject {
  const out = structuredClone(object) as unknown as Record<string, unknown>;
  for (let n = rng.int(1, 3); n > 0; n--) {
    const all = paths(out.spec, ['spec']).filter((p) => p.length > 1);
    const path = rng.pick(all);
    const parent = path
      .slice(0, -1)
      .reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], out) as Record<string | number, unknown>;
    const key = path.at(-1)!;
    const replacement = rng.pick<() => unknown>([
      () => null,
      () => rng.text(rng.int(0, 12)),
      () => rng.int(-5, 1e6),
      () => 1.5,
      () => [],
      () => ({}),
      () => 'x'.repeat(100_000),
      () => Array.from({ length: 1000 }, () => ({})),
      () => undefined,
    ])();
    if (replacement === undefined && !Array.isArray(parent)) delete parent[key];
    else parent[key] = replacement;
  }
  return out as unknown as KubeObject;
}

function neverCrashes(what: string, base: KubeObject, calls: ((o: KubeObject) => unknown)[]): void {
  for (let i = 0; i < CASES; i++) {
    const object = mutate(base, Rng.forCase(SEED, i));
    for (const call of calls) {
      try {
        call(object);
      } catch (err) {
        assert.ok(err instanceof TrafficRefused, `${what} case ${i}: ${(err as Error)?.stack ?? String(err)}`);
        assert.ok(err.message.length < 2000, `${what} case ${i}: a message of ${err.message.length} characters`);
      }
    }
  }
}

describe('hostile objects read back', () => {
  it('HTTPRoute: read back and written over, refused or answered', () => {
    neverCrashes('HTTPRoute', splitRoute(userHttpRoute(), state, ctx), [
      (o) => routeTraffic(o, ctx),
      (o) => splitRoute(o, state, ctx),
    ]);
  });

  it('VirtualService and DestinationRule: read back and written over, refused or answered', () => {
    neverCrashes('VirtualService', splitVirtualService(userVirtualService(), state, istioCtx), [
      (o) => virtualServiceTraffic(o, istioCtx),
      (o) => splitVirtualService(o, state, istioCtx),
    ]);
    neverCrashes('DestinationRule', withSubsets(userDestinationRule(), ['v1', 'v2'], istioCtx), [
      (o) => withSubsets(o, ['v3', ...subsetIds(o, istioCtx)], istioCtx),
    ]);
  });
});
