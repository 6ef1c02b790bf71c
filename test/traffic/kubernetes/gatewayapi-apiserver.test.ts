/**
 * The Gateway API router against the test API server, through kanari's HTTP client: a whole
 * rollout and a rollback leave the user's HTTPRoute (as the server stored it, defaults
 * filled in) deep-equal, with the user's Service narrowed to stable at each step and given back after; every route written validates against the Gateway API schema; a
 * user's concurrent edit makes a real 409, which is retried with the user's edit kept; an
 * HTTPRoute CRD without rule names is refused by version before anything is written.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import { updateObject } from '../../../src/kube/update.js';
import { VERSION_LABEL } from '../../../src/kube/versions.js';
import { sameTraffic, TrafficRefused } from '../../../src/rollout/seams/traffic.js';
import type { TrafficState } from '../../../src/rollout/types.js';
import { GatewayApiTraffic } from '../../../src/traffic/kubernetes/gatewayapi/router.js';
import type { KubernetesTrafficRouter } from '../../../src/traffic/kubernetes/kube-router.js';
import type { KubeClient, KubeObject } from '../../../src/kube/api.js';
import { validateObject } from '../../helpers/kube/models.js';
import { meshCluster, racedBy, type MeshCluster } from '../../helpers/kube/mesh-cluster.js';
import {
  httpRouteCrd,
  ROLLOUT,
  SERVICE,
  splitAt,
  stableOnly,
  userHttpRoute,
  userService,
  wholeRollout,
} from '../../helpers/kube/mesh-objects.js';

const ROUTE = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', namespace: 'shop', name: 'web' };
const SVC = { apiVersion: 'v1', kind: 'Service', namespace: 'shop', name: 'web' };
const selectorOf = (o: KubeObject | undefined) => (o?.spec as { selector: Record<string, string> }).selector;
const endpoints = () => [];
const split = splitAt;

let cluster: MeshCluster;
let original: KubeObject;
before(async () => {
  cluster = await meshCluster(
    [httpRouteCrd({ ruleName: true, mirrorPercent: true })],
    [userHttpRoute(), userService()],
  );
  original = cluster.stored[0]!;
});
after(() => cluster.close());

const router = (client: KubeClient = cluster.client): KubernetesTrafficRouter =>
  new GatewayApiTraffic({ client, rollout: ROLLOUT, service: SERVICE, routing: { httpRoute: 'web' }, holdMs: 0 });

async function step(r: KubernetesTrafficRouter, state: TrafficState): Promise<KubeObject> {
  await r.apply(state, endpoints);
  assert.ok(sameTraffic(await r.observe(), state), `observed as asked: ${JSON.stringify(state)}`);
  const route = (await cluster.client.get(ROUTE))!;
  new HTTPRoute(route as never).validate();
  const service = (await cluster.client.get(SVC))!;
  validateObject(service);
  assert.equal(selectorOf(service)[VERSION_LABEL], state.stable, 'the user’s Service narrowed to stable');
  return route;
}

describe('gatewayapi router on the test API server', () => {
  it('a whole rollout, then a rollback, leave the user’s HTTPRoute deep-equal', async () => {
    const r = router();
    for (const state of wholeRollout()) await step(r, state);
    await step(r, stableOnly('v2'));
    assert.deepEqual((await cluster.client.get(ROUTE))!.spec, original.spec, 'after promotion');
    await step(r, split(25, { routes: [{ cookie: 'canary', value: 'always' }], mirror: 5 }));
    await step(r, stableOnly('v1'));
    await step(r, stableOnly('v1'));
    assert.deepEqual((await cluster.client.get(ROUTE))!.spec, original.spec, 'after the rollback');
    await r.giveBack();
    assert.deepEqual(
      selectorOf(await cluster.client.get(SVC)),
      selectorOf(cluster.stored[1]),
      'the Service given back',
    );
  });

  it('retries a write a user’s concurrent edit beat with a 409, and keeps the user’s edit', async () => {
    const raced = racedBy(cluster.client, 'HTTPRoute', () =>
      updateObject(cluster.client, ROUTE, (route) => {
        (route.spec as { hostnames: string[] }).hostnames.push('www.example.com');
        return route;
      }),
    );
    await step(router(raced.client), split(50));
    assert.equal(raced.conflicts(), 1, 'the first write met the server’s 409');
    const route = (await cluster.client.get(ROUTE))!;
    assert.deepEqual((route.spec as { hostnames: string[] }).hostnames, ['shop.example.com', 'www.example.com']);
    await step(router(), stableOnly('v1'));
    await step(router(), stableOnly('v1'));
    const user = (await cluster.client.get(ROUTE))!;
    assert.deepEqual((user.spec as { rules: unknown }).rules, (original.spec as { rules: unknown }).rules);
  });

  it('refuses, naming the version needed, when the installed CRD has no rule names', async () => {
    await updateObject(
      cluster.client,
      {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        name: 'httproutes.gateway.networking.k8s.io',
      },
      (crd) => {
        const old = httpRouteCrd({ ruleName: false, mirrorPercent: false, bundle: 'v1.1.0' });
        return { ...old, metadata: { ...crd.metadata, annotations: old.metadata.annotations } };
      },
    );
    const before = (await cluster.client.get(ROUTE))!.metadata.resourceVersion;
    await assert.rejects(router().apply(split(5), endpoints), (err) => {
      assert.ok(err instanceof TrafficRefused, String(err));
      assert.match(err.message, /CRD \(v1\.1\.0 standard\) has no rule name.*v1\.4 or later/);
      return true;
    });
    assert.equal((await cluster.client.get(ROUTE))!.metadata.resourceVersion, before, 'nothing written');
  });
});
