/**
 * The nginx router against an in-memory API (test/helpers/kube/ingress-fake.ts): the
 * canary Ingress follows the steps and goes at the end, the user's Ingress never changes,
 * and the user's Service is narrowed to stable and given back as it was.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { Service } from 'kubernetes-models/v1';
import { NginxTraffic } from '../../../../src/traffic/kubernetes/nginx/router.js';
import { sameTraffic, TrafficRefused } from '../../../../src/rollout/seams/traffic.js';
import type { TrafficState } from '../../../../src/rollout/types.js';
import { FakeKube } from '../../../helpers/kube/ingress-fake.js';
import { trafficRouterConformance } from '../../../conformance/traffic-router.js';
import { userIngress, userService } from '../../../helpers/kube/ingress-fixtures.js';

const P = 'nginx.ingress.kubernetes.io';
const owner = { apiVersion: 'kanari.dev/v1alpha1', kind: 'Rollout', name: 'shop', uid: 'rollout-uid' };
const ingressRef = (name: string) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace: 'prod', name });
const serviceRef = { apiVersion: 'v1', kind: 'Service', namespace: 'prod', name: 'web' };

function world() {
  const kube = new FakeKube();
  const ingress = kube.put(userIngress);
  const service = kube.put(userService);
  const router = new NginxTraffic({
    client: kube,
    rollout: { name: 'shop', namespace: 'prod' },
    service: { name: 'web', port: 80 },
    routing: { ingress: 'shop', annotationPrefix: P },
    owner,
  });
  return { kube, router, ingress, service };
}

const state = (weight: number, more: Partial<TrafficState> = {}): TrafficState => ({
  stable: 'v1',
  canary: 'v2',
  weights: { canary: weight, baseline: 0 },
  routes: [],
  mirror: 0,
  ...more,
});
const stableOnly = (stable: string): TrafficState => ({
  stable,
  weights: { canary: 0, baseline: 0 },
  routes: [],
  mirror: 0,
});

trafficRouterConformance('nginx (in-memory API)', () => {
  const { router } = world();
  return Promise.resolve({
    router,
    routes: [
      { header: 'x-canary', value: 'yes' },
      { cookie: 'beta', value: 'always' },
    ],
    close: () => Promise.resolve(),
  });
});

describe('the nginx router', () => {
  it('follows the steps on its canary Ingress, removes it at the end, and never changes the user Ingress', async () => {
    const { kube, router, ingress } = world();
    const steps = [
      stableOnly('v1'),
      state(0),
      state(0, { routes: [{ header: 'x-canary', value: 'always' }] }),
      state(5),
      state(25),
      state(50),
      state(100),
      stableOnly('v2'),
    ];
    for (const step of steps) {
      await router.apply(step);
      assert.ok(sameTraffic(await router.observe(), step), JSON.stringify(step));
      assert.deepEqual(kube.peek(ingressRef('shop')), ingress, 'the user Ingress is untouched');
      const canary = kube.peek(ingressRef('shop-kanari-canary'));
      if (step.canary === undefined) assert.equal(canary, undefined);
      else {
        new Ingress(canary as never).validate();
        assert.equal(canary!.metadata.annotations![`${P}/canary-weight`], String(step.weights.canary));
        assert.deepEqual(canary!.metadata.ownerReferences, [{ ...owner, controller: true, blockOwnerDeletion: true }]);
      }
    }
  });

  it('narrows the user Service to stable by two selector labels, moves them on promotion, and gives it back as it was', async () => {
    const { kube, router, service } = world();
    await router.apply(state(10));
    const pinned = kube.peek(serviceRef)!;
    new Service(pinned as never).validate();
    assert.deepEqual((pinned.spec as { selector: unknown }).selector, {
      app: 'shop',
      'kanari.dev/rollout': 'shop',
      'kanari.dev/version': 'v1',
    });
    await router.apply(stableOnly('v2'));
    assert.equal(
      (kube.peek(serviceRef)!.spec as { selector: Record<string, string> }).selector['kanari.dev/version'],
      'v2',
    );
    await router.giveBack();
    const back = kube.peek(serviceRef)!;
    assert.deepEqual(back.spec, service.spec);
    assert.deepEqual(back.metadata.labels, service.metadata.labels);
  });

  it('reads a canary Ingress a person edited as what it now does, and one edited into nonsense as a refusal', async () => {
    const { kube, router } = world();
    await router.apply(state(10));
    const canary = kube.peek(ingressRef('shop-kanari-canary'))!;
    kube.put({
      ...canary,
      metadata: { ...canary.metadata, annotations: { ...canary.metadata.annotations, [`${P}/canary-weight`]: '30' } },
    });
    const seen = await router.observe();
    assert.equal(seen?.weights.canary, 30);
    assert.ok(!sameTraffic(seen, state(10)));
    kube.put({
      ...canary,
      metadata: { ...canary.metadata, annotations: { [`${P}/canary`]: 'true', [`${P}/canary-weight`]: 'lots' } },
    });
    await assert.rejects(router.observe(), (e) => e instanceof TrafficRefused && /whole number/.test(e.message));
    // apply() writes it back whole.
    await router.apply(state(10));
    assert.ok(sameTraffic(await router.observe(), state(10)));
  });

  it("refuses to overwrite or delete an Ingress of that name that is not kanari's", async () => {
    const { kube, router } = world();
    const theirs = kube.put({ ...userIngress, metadata: { name: 'shop-kanari-canary', namespace: 'prod' } });
    await assert.rejects(
      router.apply(state(10)),
      (e) => e instanceof TrafficRefused && /is not kanari's/.test(e.message),
    );
    await assert.rejects(router.apply(stableOnly('v1')), /will not be deleted/);
    assert.deepEqual(kube.peek(ingressRef('shop-kanari-canary')), theirs);
  });

  it('refuses what ingress-nginx cannot do, and a Service or Ingress it cannot work with', async () => {
    const { kube, router } = world();
    await assert.rejects(router.apply(state(10, { baseline: 'v1-baseline' })), /no room for a baseline/);
    await assert.rejects(router.apply(state(10, { mirror: 5 })), /mirror/);
    kube.put({ ...userService, spec: { ports: [{ port: 80 }] } });
    await assert.rejects(router.apply(state(10)), /has no selector of its own/);
    kube.put(userService);
    await kube.delete(ingressRef('shop'));
    await assert.rejects(
      router.apply(state(10)),
      (e) => e instanceof TrafficRefused && /Ingress shop does not exist/.test(e.message),
    );
  });

  it('observes nothing until the Service is narrowed (ingress-nginx would send main traffic to every version)', async () => {
    const { router } = world();
    assert.equal(await router.observe(), undefined);
  });
});
