/**
 * The Gateway API and Istio routers as adapters, on an in-memory KubeClient: the traffic
 * router conformance suite; a user's concurrent edit (a 409) retried from a fresh read with
 * the user's edit kept; a CRD too old refused by version; a route changed by hand reported.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../../src/kube/api.js';
import { sameTraffic, TrafficRefused, type TrafficRouter } from '../../../src/rollout/seams/traffic.js';
import { GatewayApiTraffic } from '../../../src/traffic/kubernetes/gatewayapi/router.js';
import { IstioTraffic } from '../../../src/traffic/kubernetes/istio/router.js';
import type { KubernetesTrafficRouter } from '../../../src/traffic/kubernetes/kube-router.js';
import { StableHold } from '../../../src/traffic/kubernetes/owned-rules.js';
import { trafficRouterConformance } from '../../conformance/traffic-router.js';
import { MeshFakeClient } from '../../helpers/kube/mesh-fake.js';
import {
  httpRouteCrd,
  ROLLOUT,
  SERVICE,
  splitAt,
  stableOnly,
  userDestinationRule,
  userHttpRoute,
  userService,
  userVirtualService,
  wholeRollout,
} from '../../helpers/kube/mesh-objects.js';

const endpoints = () => [];
const ROUTE = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', namespace: 'shop', name: 'web' };
const VS = { apiVersion: 'networking.istio.io/v1beta1', kind: 'VirtualService', namespace: 'shop', name: 'web' };
const DR = { ...VS, kind: 'DestinationRule' };

function gatewayApi(crd = httpRouteCrd({ ruleName: true, mirrorPercent: true })) {
  const client = new MeshFakeClient();
  client.put(userHttpRoute());
  client.put(userService());
  client.put(crd);
  const router: KubernetesTrafficRouter = new GatewayApiTraffic({
    client,
    rollout: ROLLOUT,
    service: SERVICE,
    routing: { httpRoute: 'web' },
    holdMs: 0,
  });
  return { client, router };
}

function istio() {
  const client = new MeshFakeClient();
  client.put(userVirtualService());
  client.put(userDestinationRule());
  const router: KubernetesTrafficRouter = new IstioTraffic({
    client,
    rollout: ROLLOUT,
    service: SERVICE,
    routing: { virtualService: { name: 'web' }, destinationRule: { name: 'web' } },
    holdMs: 0,
  });
  return { client, router };
}

trafficRouterConformance('gatewayapi (in memory)', () =>
  Promise.resolve({ router: gatewayApi().router, close: () => Promise.resolve() }),
);
trafficRouterConformance('istio (in memory)', () =>
  Promise.resolve({ router: istio().router, close: () => Promise.resolve() }),
);

const spec = (o: KubeObject | undefined) => o?.spec;
const split = splitAt(25);

describe('gatewayapi router', () => {
  it('serves a whole rollout and leaves the user’s HTTPRoute as written', async () => {
    const { client, router } = gatewayApi();
    for (const state of wholeRollout()) {
      await router.apply(state, endpoints);
      assert.ok(sameTraffic(await router.observe(), state), JSON.stringify(state));
    }
    const held = (spec(client.stored(ROUTE)) as { rules: { name?: string; backendRefs: { name: string }[] }[] }).rules;
    assert.deepEqual(
      held[0]!.backendRefs.map((b) => b.name),
      ['web-v2'],
      'everyone to the new stable’s own Service first',
    );
    await router.apply(stableOnly('v2'), endpoints);
    assert.ok(sameTraffic(await router.observe(), stableOnly('v2')));
    assert.deepEqual(spec(client.stored(ROUTE)), spec(userHttpRoute()), 'then the user’s rules alone');
  });

  it('gives the user’s HTTPRoute back as written mid-release, at once (the Rollout is deleted), and then has nothing to give', async () => {
    const { client, router } = gatewayApi();
    await router.apply(splitAt(25, { routes: [{ header: 'x-canary', value: 'yes' }], mirror: 10 }), endpoints);
    assert.notDeepEqual(spec(client.stored(ROUTE)), spec(userHttpRoute()));
    await router.giveBack();
    assert.deepEqual(spec(client.stored(ROUTE)), spec(userHttpRoute()));
    const writes = client.replaces;
    await router.giveBack();
    assert.equal(client.replaces, writes, 'nothing of kanari’s left: nothing written');
  });

  it('retries a write a user’s concurrent edit beat, and keeps the user’s edit', async () => {
    const { client, router } = gatewayApi();
    client.beforeReplace = () => {
      client.beforeReplace = undefined;
      const route = client.stored(ROUTE)!;
      (route.spec as { hostnames: string[] }).hostnames.push('www.example.com');
      client.put(route);
    };
    await router.apply(split, endpoints);
    assert.equal(client.replaces, 2, 'the first write met a 409 and was made again from a fresh read');
    assert.ok(sameTraffic(await router.observe(), split));
    assert.deepEqual((spec(client.stored(ROUTE)) as { hostnames: string[] }).hostnames, [
      'shop.example.com',
      'www.example.com',
    ]);
  });

  it('refuses a CRD without rule names, naming the version needed, and writes nothing', async () => {
    const { client, router } = gatewayApi(httpRouteCrd({ ruleName: false, mirrorPercent: false, bundle: 'v1.1.0' }));
    await assert.rejects(
      router.apply(split, endpoints),
      (err) => err instanceof TrafficRefused && /v1\.4 or later/.test(err.message),
    );
    assert.equal(client.replaces, 0);
    await router.apply(stableOnly('v1'), endpoints);
  });

  it('reports kanari’s rules changed by hand, and a route that is gone', async () => {
    const { client, router } = gatewayApi();
    await router.apply(split, endpoints);
    const route = client.stored(ROUTE)!;
    (route.spec as { rules: { backendRefs: { weight: number }[] }[] }).rules[0]!.backendRefs[1]!.weight = 3;
    client.put(route);
    await assert.rejects(
      router.observe(),
      (err) => err instanceof TrafficRefused && /not as kanari wrote them/.test(err.message),
    );
    await router.apply(split, endpoints);
    assert.ok(sameTraffic(await router.observe(), split), 'written again as it was');
    const missing: TrafficRouter = new GatewayApiTraffic({
      client,
      rollout: ROLLOUT,
      service: SERVICE,
      routing: { httpRoute: 'nope' },
    });
    await assert.rejects(
      missing.observe(),
      (err) => err instanceof TrafficRefused && /HTTPRoute shop\/nope does not exist/.test(err.message),
    );
    await assert.rejects(missing.apply(split, endpoints), TrafficRefused);
  });
});

describe('after everyone is back on stable', () => {
  it('kanari’s rules send everyone to stable’s own Service for holdMs, so a version being stopped gets nothing', async () => {
    const client = new MeshFakeClient();
    client.put(userHttpRoute());
    client.put(userService());
    client.put(httpRouteCrd({ ruleName: true, mirrorPercent: true }));
    const router: KubernetesTrafficRouter = new GatewayApiTraffic({
      client,
      rollout: ROLLOUT,
      service: SERVICE,
      routing: { httpRoute: 'web' },
    });
    await router.apply(split, endpoints);
    for (let n = 0; n < 3; n++) {
      await router.apply(stableOnly('v1'), endpoints);
      assert.ok(sameTraffic(await router.observe(), stableOnly('v1')));
    }
    const rules = (spec(client.stored(ROUTE)) as { rules: { name?: string; backendRefs: { name: string }[] }[] }).rules;
    assert.deepEqual(
      rules.filter((r) => r.name?.startsWith('kanari-')).map((r) => r.backendRefs.map((b) => b.name)),
      [['web-v1'], ['web-v1']],
    );
  });

  it('the hold starts when kanari’s rules first send only to stable, and ends holdMs later', () => {
    let now = 0;
    const hold = new StableHold(30_000, () => now);
    const stable = stableOnly('v1');
    assert.equal(
      hold.holds(split, () => split),
      false,
      'not stable only: no hold asked',
    );
    assert.equal(
      hold.holds(stable, () => split),
      true,
      'the canary still has a share: hold',
    );
    now = 29_000;
    assert.equal(
      hold.holds(stable, () => stable),
      true,
    );
    now = 30_000;
    assert.equal(
      hold.holds(stable, () => stable),
      false,
    );
    assert.equal(
      hold.holds(stable, () => undefined),
      false,
      'no rules of kanari’s: nothing to hold',
    );
    const unreadable = () => {
      throw new TrafficRefused('edited by hand');
    };
    assert.equal(hold.holds(stable, unreadable), true, 'rules it cannot read may send anywhere: hold');
  });
});

describe('istio router', () => {
  it('serves a whole rollout; the VirtualService and, one apply later, the DestinationRule are as written', async () => {
    const { client, router } = istio();
    for (const state of wholeRollout()) {
      await router.apply(state, endpoints);
      assert.ok(sameTraffic(await router.observe(), state), JSON.stringify(state));
    }
    await router.apply(stableOnly('v2'), endpoints);
    assert.ok(sameTraffic(await router.observe(), stableOnly('v2')));
    assert.deepEqual(spec(client.stored(VS)), spec(userVirtualService()), 'the routes go one apply after stable alone');
    await router.apply(stableOnly('v2'), endpoints);
    assert.deepEqual(spec(client.stored(DR)), spec(userDestinationRule()), 'and the subsets one apply later');
  });

  it('gives the VirtualService and the DestinationRule back as written mid-release, at once, and then has nothing to give', async () => {
    const { client, router } = istio();
    await router.apply(splitAt(25, { routes: [{ header: 'x-canary', value: 'yes' }], mirror: 10 }), endpoints);
    await router.giveBack();
    assert.deepEqual(spec(client.stored(VS)), spec(userVirtualService()));
    assert.deepEqual(spec(client.stored(DR)), spec(userDestinationRule()));
    const writes = client.replaces;
    await router.giveBack();
    assert.equal(client.replaces, writes, 'nothing of kanari’s left: nothing written');
  });

  it('reads header routes back under the names asked for (Istio matches them in lowercase)', async () => {
    const { router } = istio();
    const state = { ...split, routes: [{ header: 'X-Canary', value: 'yes' }] };
    await router.apply(state, endpoints);
    assert.ok(sameTraffic(await router.observe(), state));
  });

  it('retries a write a user’s concurrent edit beat, and keeps the user’s edit', async () => {
    const { client, router } = istio();
    client.beforeReplace = (incoming) => {
      if (incoming.kind !== 'VirtualService') return;
      client.beforeReplace = undefined;
      const vs = client.stored(VS)!;
      (vs.spec as { hosts: string[] }).hosts.push('www.example.com');
      client.put(vs);
    };
    await router.apply(split, endpoints);
    assert.ok(sameTraffic(await router.observe(), split));
    assert.deepEqual((spec(client.stored(VS)) as { hosts: string[] }).hosts, [
      'web',
      'shop.example.com',
      'www.example.com',
    ]);
  });

  it('reports a subset removed by hand', async () => {
    const { client, router } = istio();
    await router.apply(split, endpoints);
    const dr = client.stored(DR)!;
    (dr.spec as { subsets: unknown[] }).subsets.pop();
    client.put(dr);
    await assert.rejects(
      router.observe(),
      (err) => err instanceof TrafficRefused && /has no subset kanari-v2/.test(err.message),
    );
  });
});
