/**
 * The ingress slice's adapters on the test API server with kanari's HTTP client: the
 * kubernetes target (its conformance suite, a version becoming ready), the replicas router
 * reaching 5/25/50/100% with the target's Deployments, and the nginx router's canary
 * Ingress following the steps while the user's Ingress stays as it was. Each step is
 * waited for as the engine does (apply, then observe until it matches), never timed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { Service } from 'kubernetes-models/v1';
import { KubernetesTarget, type KubernetesTargetOptions } from '../../../src/targets/kubernetes.js';
import { ReplicasTraffic } from '../../../src/traffic/kubernetes/replicas/router.js';
import { NginxTraffic } from '../../../src/traffic/kubernetes/nginx/router.js';
import { sameTraffic, type TrafficRouter } from '../../../src/rollout/seams/traffic.js';
import type { TargetEvents } from '../../../src/rollout/seams/targets.js';
import type { TargetSpec } from '../../../src/config/schemas/rollout.js';
import type { TrafficState } from '../../../src/rollout/types.js';
import type { KubeObject, OwnerReference } from '../../../src/kube/api.js';
import { startCluster, type TestCluster } from '../../helpers/kube/cluster.js';
import { split, template, userIngress, userService } from '../../helpers/kube/ingress-fixtures.js';
import { deploymentTargetConformance } from '../../conformance/deployment-target.js';

let cluster: TestCluster;
before(async () => {
  cluster = await startCluster({ deploymentReadyDelayMs: 30 });
  await cluster.client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' } });
});
after(() => cluster.close());

/** Each test its own rollout, so none sees another's objects. */
let rollouts = 0;
const events: TargetEvents = { exited: () => undefined, save: (w) => w() };

async function rollout(name = `shop${++rollouts}`) {
  const created = await cluster.client.create<KubeObject>({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `${name}-owner`, namespace: 'prod' },
  });
  // The owner is a ConfigMap here: the test API server collects what it owns like any owner.
  const owner = { apiVersion: 'v1', kind: 'ConfigMap', name: created.metadata.name, uid: created.metadata.uid! };
  await cluster.client.create({ ...userService, metadata: { name: `${name}-web`, namespace: 'prod' } });
  return { name, owner, service: `${name}-web` };
}

const spec =
  (service: string) =>
  (size: number): TargetSpec => ({
    kubernetes: { template, service, namespace: 'prod', replicas: size },
    size,
  });

/** As the engine does: apply, read back, again until it matches. */
async function reach(router: TrafficRouter, state: TrafficState, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    await router.apply(state, () => []);
    if (sameTraffic(await router.observe(), state)) return;
    if (Date.now() > deadline) assert.fail(`not served within ${ms} ms: ${JSON.stringify(state)}`);
    await sleep(50);
  }
}

const targetOf = (r: { name: string; owner: OwnerReference }, more: Partial<KubernetesTargetOptions> = {}) =>
  new KubernetesTarget({
    client: cluster.client,
    namespace: 'prod',
    owner: r.owner,
    rollout: r.name,
    events,
    pollMs: 25,
    ...more,
  });

deploymentTargetConformance('kubernetes (test API server)', async (targetEvents) => {
  const r = await rollout();
  const target = targetOf(r, { events: targetEvents });
  return { target, spec: spec(r.service), oneAddress: true, close: () => Promise.resolve() };
});

describe('the ingress slice on the test API server', () => {
  it('the target starts a version: valid objects, ready once the Deployment controller says so', async () => {
    const r = await rollout();
    const target = targetOf(r);
    await target.ensure({ id: 'v1', version: 'v1', target: spec(r.service)(3), size: 3 });
    assert.deepEqual(target.readiness('v1'), { state: 'ready', endpoints: [`${r.name}-v1.prod.svc:80`], size: 3 });
    const d = cluster.api.get('apps/v1', 'Deployment', 'prod', `${r.name}-v1`)!;
    const s = cluster.api.get('v1', 'Service', 'prod', `${r.name}-v1`)!;
    new Deployment(d as never).validate();
    new Service(s as never).validate();
    assert.equal(d.spec.template.metadata.labels.app, 'shop');
    await target.stopAll();
    assert.equal(cluster.api.get('apps/v1', 'Deployment', 'prod', `${r.name}-v1`), undefined);
  });

  it('the replicas router reaches 5, 25, 50 and 100% of 20 pods and reads each back', async () => {
    const r = await rollout();
    const target = targetOf(r, { sizedBy: 'traffic' });
    for (const id of ['v1', 'v2']) await target.ensure({ id, version: id, target: spec(r.service)(20), size: 20 });
    const router = new ReplicasTraffic({
      client: cluster.client,
      rollout: { name: r.name, namespace: 'prod' },
      service: { name: r.service, port: 80 },
      routing: {},
      replicas: 20,
    });
    const ready = (id: string) =>
      Object.values(cluster.api.readyPods('prod', `${r.name}-${id}`)).reduce((a, b) => a + b, 0);
    for (const weight of [5, 25, 50, 100]) {
      await reach(router, split(weight));
      assert.deepEqual([ready('v2'), ready('v1')], [weight / 5, 20 - weight / 5], `${weight}%`);
    }
    await reach(router, { stable: 'v1', weights: { canary: 0, baseline: 0 }, routes: [], mirror: 0 });
    assert.deepEqual([ready('v2'), ready('v1')], [0, 20], 'rolled back');
    target.detach();
  });

  it('the nginx canary Ingress follows the steps and goes at the end; the user Ingress never changes', async () => {
    const r = await rollout();
    const user = await cluster.client.create<KubeObject>({
      ...userIngress,
      metadata: { ...userIngress.metadata, name: `${r.name}-ing` },
    });
    // Paths to the rollout's Service, as the fixture's are to "web".
    const ingress = structuredClone(user);
    for (const rule of (ingress.spec as { rules: { http: { paths: { backend: { service: { name: string } } }[] } }[] })
      .rules)
      for (const p of rule.http.paths) if (p.backend.service.name === 'web') p.backend.service.name = r.service;
    const before = await cluster.client.replace(ingress);
    const router = new NginxTraffic({
      client: cluster.client,
      rollout: { name: r.name, namespace: 'prod' },
      service: { name: r.service, port: 80 },
      routing: { ingress: `${r.name}-ing`, annotationPrefix: 'nginx.ingress.kubernetes.io' },
      owner: r.owner,
    });
    const steps = [
      { stable: 'v1', weights: { canary: 0, baseline: 0 }, routes: [], mirror: 0 },
      split(0),
      { ...split(0), routes: [{ header: 'x-canary', value: 'yes' }] },
      split(5),
      split(25),
      split(50),
      split(100),
      { stable: 'v2', weights: { canary: 0, baseline: 0 }, routes: [], mirror: 0 },
    ];
    for (const step of steps) {
      await reach(router, step);
      const canary = cluster.api.get('networking.k8s.io/v1', 'Ingress', 'prod', `${r.name}-ing-kanari-canary`);
      if (step.canary === undefined) assert.equal(canary, undefined);
      else {
        new Ingress(canary as never).validate();
        assert.equal(
          canary!.metadata.annotations!['nginx.ingress.kubernetes.io/canary-weight'],
          String(step.weights.canary),
        );
      }
      assert.deepEqual(
        await cluster.client.get({
          apiVersion: 'networking.k8s.io/v1',
          kind: 'Ingress',
          namespace: 'prod',
          name: `${r.name}-ing`,
        }),
        before,
      );
    }
    await router.giveBack();
    const service = cluster.api.get('v1', 'Service', 'prod', r.service)!;
    assert.deepEqual(service.spec.selector, { app: 'shop' });
  });
});
