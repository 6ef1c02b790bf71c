// What the test API server does on its own, as a cluster's controllers would: garbage
// collection of owned objects, namespaces that take their content, leases as ordinary
// objects, and the stand-in Deployment controller (ready after a delay; a new template
// replaces every pod, unless paused).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startKubeApiServer, type TestKubeApi } from '../helpers/kube/apiserver.js';
import { templateHash } from '../helpers/kube/deployments.js';
import { configMap, deployment, eventually, kube, kubeAt, watchStream } from '../helpers/kube/request.js';

let api: TestKubeApi;
let k: ReturnType<typeof kubeAt>;
const DEPLOYMENTS = '/apis/apps/v1/namespaces/default/deployments';
const SERVICES = '/api/v1/namespaces/default/services';
const service = (name: string, owner?: any) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {
    name,
    ...(owner
      ? {
          ownerReferences: [
            {
              apiVersion: owner.apiVersion ?? 'apps/v1',
              kind: owner.kind ?? 'Deployment',
              name: owner.metadata.name,
              uid: owner.metadata.uid,
              controller: true,
            },
          ],
        }
      : {}),
  },
  spec: { selector: { app: name }, ports: [{ port: 80 }] },
});
const gone = (path: string) => async () => ((await k.get(path)).status === 404 ? true : undefined);

before(async () => {
  api = await startKubeApiServer({ deploymentReadyDelayMs: 300, collectorDelayMs: 20 });
  k = kubeAt(api.url);
});
after(() => api.close());

describe('garbage collection', () => {
  it('deletes what an owner owns once the owner is deleted, and what an owner it never had "owns"', async () => {
    const owner = (await k.post(DEPLOYMENTS, deployment('owner'))).body;
    await k.post(SERVICES, service('owned', owner));
    await k.post(SERVICES, service('orphan-by-mistake', { metadata: { name: 'owner', uid: 'no-such-uid' } }));
    await k.post(SERVICES, service('unowned'));
    await eventually(gone(`${SERVICES}/orphan-by-mistake`), 'the dependent of a uid that does not exist to go');
    assert.equal((await k.get(`${SERVICES}/owned`)).status, 200);
    await k.delete(`${DEPLOYMENTS}/owner`);
    await eventually(gone(`${SERVICES}/owned`), 'the owned Service to go');
    assert.equal((await k.get(`${SERVICES}/unowned`)).status, 200);
  });

  it('keeps a dependent with another owner left, and orphans dependents on propagationPolicy=Orphan', async () => {
    const a = (await k.post(DEPLOYMENTS, deployment('owner-a'))).body;
    const b = (await k.post(DEPLOYMENTS, deployment('owner-b'))).body;
    const both = service('two-owners', a);
    both.metadata.ownerReferences!.push({
      ...both.metadata.ownerReferences![0]!,
      name: 'owner-b',
      uid: b.metadata.uid,
      controller: false,
    });
    await k.post(SERVICES, both);
    await k.post(SERVICES, service('kept', b));
    await k.delete(`${DEPLOYMENTS}/owner-a`);
    await eventually(
      async () =>
        (await k.get(`${SERVICES}/two-owners`)).body.metadata.ownerReferences?.length === 1 ? true : undefined,
      'the dangling reference to go',
    );
    await k.delete(`${DEPLOYMENTS}/owner-b`, { propagationPolicy: 'Orphan' });
    await eventually(
      async () => ((await k.get(`${SERVICES}/kept`)).body.metadata.ownerReferences === undefined ? true : undefined),
      'the orphaned reference to go',
    );
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await k.get(`${SERVICES}/kept`)).status, 200);
    assert.equal((await k.get(`${SERVICES}/two-owners`)).status, 200);
  });

  it('keeps a namespace Terminating, refusing new content, until everything in it is gone', async () => {
    await k.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'doomed' } });
    await k.post('/api/v1/namespaces/doomed/configmaps', { ...configMap('inside'), metadata: { name: 'inside' } });
    const held = { ...configMap('held'), metadata: { name: 'held', finalizers: ['example.com/hold'] } };
    await k.post('/api/v1/namespaces/doomed/configmaps', held);
    const terminating = await k.delete('/api/v1/namespaces/doomed');
    assert.equal(terminating.body.status.phase, 'Terminating');
    await eventually(() => (api.get('v1', 'ConfigMap', 'doomed', 'inside') ? undefined : true), 'the content to go');
    assert.ok(api.get('v1', 'ConfigMap', 'doomed', 'held')?.metadata.deletionTimestamp, 'held by its finalizer');
    const late = await k.post('/api/v1/namespaces/doomed/configmaps', configMap('late'));
    assert.equal(late.status, 403);
    await k.merge('/api/v1/namespaces/doomed/configmaps/held', { metadata: { finalizers: null } });
    await eventually(gone('/api/v1/namespaces/doomed'), 'the namespace to go');
  });
});

describe('leases', () => {
  it('are ordinary objects: a holder renews at its resourceVersion, a stale contender is refused', async () => {
    const LEASES = '/apis/coordination.k8s.io/v1/namespaces/default/leases';
    const lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'kanari-operator' },
      spec: { holderIdentity: 'a', leaseDurationSeconds: 15, renewTime: '2026-01-01T00:00:00.000000Z' },
    };
    const made = (await k.post(LEASES, lease)).body;
    const renewed = await k.put(`${LEASES}/kanari-operator`, {
      ...made,
      spec: { ...made.spec, renewTime: '2026-01-01T00:00:05.000000Z' },
    });
    assert.equal(renewed.status, 200);
    const stolen = await k.put(`${LEASES}/kanari-operator`, { ...made, spec: { ...made.spec, holderIdentity: 'b' } });
    assert.equal(stolen.status, 409);
    assert.equal(api.get('coordination.k8s.io/v1', 'Lease', 'default', 'kanari-operator')!.spec.holderIdentity, 'a');
  });
});

describe('the stand-in Deployment controller', () => {
  it('observes the generation at once and makes every replica ready after the delay, omitting zero counts', async () => {
    // The watch sees every status written, however slow the machine: the first is before any pod is ready.
    const w = watchStream(
      api.url,
      `${DEPLOYMENTS}?watch=true&resourceVersion=${api.resourceVersion()}&fieldSelector=metadata.name%3Dready`,
    );
    const made = (await k.post(DEPLOYMENTS, deployment('ready', 'app:1', 3))).body;
    const early = await eventually(
      () => w.events.find((e) => e.object.status?.observedGeneration)?.object.status,
      'observedGeneration',
    );
    w.stop();
    assert.equal(early.observedGeneration, made.metadata.generation);
    assert.equal(early.readyReplicas, undefined, 'zero ready replicas are omitted, as the real API omits them');
    const status = await eventually(
      () =>
        api.get('apps/v1', 'Deployment', 'default', 'ready')?.status?.readyReplicas === 3
          ? api.get('apps/v1', 'Deployment', 'default', 'ready')!.status
          : undefined,
      'three ready replicas',
    );
    assert.deepEqual([status.replicas, status.updatedReplicas, status.availableReplicas], [3, 3, 3]);
    assert.deepEqual(api.readyPods('default', 'ready'), { [templateHash(made.spec.template)]: 3 });
  });

  it('replaces every pod with a new template (it rolls everything), but only scales a paused Deployment', async () => {
    const made = (await k.post(DEPLOYMENTS, deployment('rolled', 'app:1', 4))).body;
    const v1 = templateHash(made.spec.template);
    await eventually(() => (api.readyPods('default', 'rolled')[v1] === 4 ? true : undefined), 'four v1 pods');
    const v2Template = { ...made.spec.template, spec: { containers: [{ name: 'app', image: 'app:2' }] } };
    const v2 = templateHash({ ...v2Template, spec: { containers: [{ name: 'app', image: 'app:2' }] } });
    await k.merge(`${DEPLOYMENTS}/rolled`, {
      spec: { template: { spec: { containers: [{ name: 'app', image: 'app:2' }] } } },
    });
    const rolled = await eventually(
      () => (api.readyPods('default', 'rolled')[v2] !== undefined ? api.readyPods('default', 'rolled') : undefined),
      'v2 pods',
    );
    assert.deepEqual(rolled, { [v2]: 4 }, 'no pod of the old template is left');
    await k.merge(`${DEPLOYMENTS}/rolled`, {
      spec: { paused: true, replicas: 6, template: { spec: { containers: [{ name: 'app', image: 'app:3' }] } } },
    });
    await eventually(() => (api.readyPods('default', 'rolled')[v2] === 6 ? true : undefined), 'six v2 pods');
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(api.readyPods('default', 'rolled'), { [v2]: 6 }, 'paused: scaled, not rolled');
    const status = api.get('apps/v1', 'Deployment', 'default', 'rolled')!.status;
    assert.equal(status.updatedReplicas, undefined, 'none runs the paused template');
    assert.equal(status.conditions.find((c: any) => c.type === 'Progressing').reason, 'DeploymentPaused');
  });

  it('answers kubectl-style Table columns for Deployments', async () => {
    const table = await kube(
      api.url,
      'GET',
      DEPLOYMENTS,
      undefined,
      undefined,
      'application/json;as=Table;v=v1;g=meta.k8s.io',
    );
    assert.deepEqual(
      table.body.columnDefinitions.map((c: any) => c.name),
      ['Name', 'Ready', 'Up-to-date', 'Available', 'Age'],
    );
  });
});
