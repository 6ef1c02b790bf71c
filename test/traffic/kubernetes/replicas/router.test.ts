/**
 * The replicas router with the kubernetes target, against an in-memory API whose stand-in
 * Deployment controller is stepped by hand (`settle`), so each test sees the moment between
 * a scale and its pods being ready.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ReplicasTraffic } from '../../../../src/traffic/kubernetes/replicas/router.js';
import { KubernetesTarget } from '../../../../src/targets/kubernetes.js';
import { sameTraffic, TrafficRefused } from '../../../../src/rollout/seams/traffic.js';
import type { TrafficState } from '../../../../src/rollout/types.js';
import { FakeKube } from '../../../helpers/kube/ingress-fake.js';
import { split, template, userService } from '../../../helpers/kube/ingress-fixtures.js';
import { trafficRouterConformance } from '../../../conformance/traffic-router.js';

const owner = { apiVersion: 'kanari.dev/v1alpha1', kind: 'Rollout', name: 'shop', uid: 'rollout-uid' };
const deployment = (name: string) => ({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'prod', name });

/** A world with versions v1 (stable, all pods) and v2 (none yet), made by the target as the operator would. */
async function world(replicas: number, versions = ['v1', 'v2']) {
  const kube = new FakeKube();
  kube.put(userService);
  kube.autoReady = true;
  const target = new KubernetesTarget({
    client: kube,
    namespace: 'prod',
    owner,
    rollout: 'shop',
    events: { exited: () => undefined, save: (w) => w() },
    sizedBy: 'traffic',
    pollMs: 5,
  });
  for (const id of versions)
    await target.ensure({
      id,
      version: id,
      target: { kubernetes: { template, service: 'web', namespace: 'prod', replicas }, size: replicas },
      size: replicas,
    });
  target.detach();
  kube.autoReady = false;
  const router = new ReplicasTraffic({
    client: kube,
    rollout: { name: 'shop', namespace: 'prod' },
    service: { name: 'web', port: 80 },
    routing: {},
    replicas,
  });
  const pods = (name: string) => {
    const d = kube.peek(deployment(name))!;
    return {
      wanted: (d.spec as { replicas: number }).replicas,
      ready: (d.status as { readyReplicas?: number } | undefined)?.readyReplicas ?? 0,
    };
  };
  return { kube, router, pods };
}

trafficRouterConformance('replicas (in-memory API)', async () => {
  const { kube, router } = await world(4);
  kube.autoReady = true;
  return { router, close: () => Promise.resolve() };
});

describe('the replicas router', () => {
  it('reaches 5, 25, 50 and 100% of 20 pods, growing the canary before shrinking stable', async () => {
    const { kube, router, pods } = await world(20);
    for (const [weight, canary] of [
      [5, 1],
      [25, 5],
      [50, 10],
      [100, 20],
    ] as const) {
      await router.apply(split(weight));
      assert.deepEqual(pods('shop-v2'), { wanted: canary, ready: pods('shop-v2').ready }, 'the canary grows first');
      assert.equal(pods('shop-v1').wanted, pods('shop-v1').ready, 'stable does not shrink before the canary is ready');
      assert.ok(!sameTraffic(await router.observe(), split(weight)), 'not served until the pods are ready');
      kube.settle();
      await router.apply(split(weight));
      kube.settle();
      assert.deepEqual(pods('shop-v2'), { wanted: canary, ready: canary });
      assert.deepEqual(pods('shop-v1'), { wanted: 20 - canary, ready: 20 - canary });
      assert.ok(sameTraffic(await router.observe(), split(weight)), `${weight}%`);
      new Deployment(kube.peek(deployment('shop-v2')) as never).validate();
    }
  });

  it('reports the share of ready pods while they are not what was asked', async () => {
    const { kube, router } = await world(4);
    await router.apply(split(50));
    kube.settle(); // the canary's 2 pods are ready, stable still has its 4
    const seen = await router.observe();
    assert.equal(seen?.weights.canary, 33.33);
    assert.deepEqual(seen?.sizes, { v1: 4, v2: 2 });
  });

  it('counts every version behind the Service: an old one still running is scaled away', async () => {
    const { kube, router, pods } = await world(4, ['v0', 'v1', 'v2']);
    kube.settle();
    const promoted: TrafficState = { stable: 'v1', weights: { canary: 0, baseline: 0 }, routes: [], mirror: 0 };
    await router.apply(promoted);
    kube.settle();
    assert.ok(!sameTraffic(await router.observe(), promoted), 'v0 still serves');
    await router.apply(promoted);
    kube.settle();
    assert.equal(pods('shop-v0').wanted, 0);
    assert.ok(sameTraffic(await router.observe(), promoted));
  });

  it('refuses a weight that is not a whole number of pods, and anything but weights', async () => {
    const { router } = await world(10);
    await assert.rejects(
      router.apply(split(5)),
      (e) =>
        e instanceof TrafficRefused && /5% of 10 pods is 0\.5 pods.*0% \(0 pods\) and 10% \(1 pod\)/.test(e.message),
    );
    for (const more of [{ routes: [{ header: 'x', value: 'y' }] }, { mirror: 5 }, { baseline: 'v1-baseline' }])
      await assert.rejects(router.apply({ ...split(10), ...more }), /weight only/);
  });

  it("refuses when the user Service does not select the versions' pods", async () => {
    const { kube, router } = await world(4);
    kube.put({ ...userService, spec: { ...(userService.spec as object), selector: { app: 'other' } } });
    await assert.rejects(router.apply(split(25)), /does not select the pods of shop-v1 \(they lack app=other\)/);
    kube.put({ ...userService, spec: { ports: [{ port: 80 }] } });
    await assert.rejects(router.apply(split(25)), /has no selector/);
  });

  it("refuses to scale a Deployment at a version's name that is not kanari's", async () => {
    const { kube, router } = await world(4, ['v1']);
    kube.put({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'shop-v2', namespace: 'prod' },
      spec: { replicas: 3 },
    });
    await assert.rejects(router.apply(split(25)), /Deployment shop-v2 does not exist/);
    assert.equal((kube.peek(deployment('shop-v2'))!.spec as { replicas: number }).replicas, 3);
  });

  it('reads Deployments and a Service edited into any shape as not served, or refuses them, never crashing', async () => {
    const { kube, router } = await world(4);
    kube.autoReady = true;
    await router.apply(split(25));
    const v2 = kube.peek(deployment('shop-v2'))!;
    kube.autoReady = false;
    kube.put({ ...v2, status: 'ready', spec: { ...(v2.spec as object), template: 'nope' } });
    const seen = await router.observe();
    assert.ok(seen && !sameTraffic(seen, split(25)), JSON.stringify(seen));
    await assert.rejects(
      router.apply(split(25)),
      (e) =>
        e instanceof TrafficRefused && /does not select the pods of shop-v2 \(they lack app=shop\)/.test(e.message),
    );
    kube.put({ ...userService, spec: { selector: 'app=shop', ports: 'http' } });
    await assert.rejects(
      router.apply(split(25)),
      (e) => e instanceof TrafficRefused && /has no selector/.test(e.message),
    );
  });
});
