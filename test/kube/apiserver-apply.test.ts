// Server-side apply on the test API server, on built-in kinds: conflicts between managers and
// force, shared ownership of equal values, removal of what a manager stops applying, lists
// merged by key (containers by name), and updates that take fields from appliers.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startKubeApiServer, type TestKubeApi } from '../helpers/kube/apiserver.js';
import { configMap, deployment, kube, kubeAt, MERGE } from '../helpers/kube/request.js';

let api: TestKubeApi;
let k: ReturnType<typeof kubeAt>;
const DEPLOYMENTS = '/apis/apps/v1/namespaces/default/deployments';
const CM = '/api/v1/namespaces/default/configmaps';
const managers = (object: any) => object.metadata.managedFields.map((m: any) => `${m.manager}/${m.operation}`).sort();

before(async () => {
  api = await startKubeApiServer();
  k = kubeAt(api.url);
});
after(() => api.close());

describe('server-side apply', () => {
  it('creates what is not there (201), recording the manager as an Apply owner', async () => {
    const res = await k.apply(`${CM}/created`, configMap('created', { a: '1' }), 'alice');
    assert.equal(res.status, 201);
    assert.deepEqual(managers(res.body), ['alice/Apply']);
    assert.deepEqual(res.body.metadata.managedFields[0].fieldsV1, { 'f:data': { 'f:a': {} } });
  });

  it('refuses to change a field another manager owns (409 Conflict naming both), and force takes it over', async () => {
    await k.apply(`${DEPLOYMENTS}/owned`, deployment('owned', 'app:1', 3), 'alice');
    const bob = deployment('owned', 'app:1', 5);
    const refused = await k.apply(`${DEPLOYMENTS}/owned`, bob, 'bob');
    assert.equal(refused.status, 409);
    assert.deepEqual([refused.body.kind, refused.body.reason, refused.body.code], ['Status', 'Conflict', 409]);
    assert.equal(
      refused.body.message,
      'Apply failed with 1 conflict: conflict with "alice" using apps/v1: .spec.replicas',
    );
    assert.deepEqual(refused.body.details.causes, [
      { reason: 'FieldManagerConflict', message: 'conflict with "alice" using apps/v1', field: '.spec.replicas' },
    ]);
    const forced = await k.apply(`${DEPLOYMENTS}/owned`, bob, 'bob', true);
    assert.equal(forced.status, 200);
    assert.equal(forced.body.spec.replicas, 5);
    const alice = forced.body.metadata.managedFields.find((m: any) => m.manager === 'alice');
    assert.equal(alice.fieldsV1['f:spec']['f:replicas'], undefined, 'alice lost the field');
    assert.ok(alice.fieldsV1['f:spec']['f:selector'], 'and kept the ones shared at equal values');
    const back = await k.apply(`${DEPLOYMENTS}/owned`, deployment('owned', 'app:1', 3), 'alice');
    assert.equal(back.status, 409, 'now alice conflicts with bob');
    assert.match(back.body.message, /conflict with "bob" using apps\/v1: \.spec\.replicas/);
  });

  it('shares fields applied at equal values, and removes a field only when its last applier stops applying it', async () => {
    await k.apply(`${CM}/shared`, configMap('shared', { a: '1', b: '2' }), 'alice');
    assert.equal((await k.apply(`${CM}/shared`, configMap('shared', { b: '2' }), 'bob')).status, 200);
    const aliceDropsB = await k.apply(`${CM}/shared`, configMap('shared', { a: '1' }), 'alice');
    assert.deepEqual(aliceDropsB.body.data, { a: '1', b: '2' }, 'bob still applies b');
    const bobDropsB = await k.apply(`${CM}/shared`, configMap('shared', { c: '3' }), 'bob');
    assert.deepEqual(bobDropsB.body.data, { a: '1', c: '3' }, 'no one applies b any more');
  });

  it('merges lists keyed by name (containers) element by element, each manager owning its own', async () => {
    const base = deployment('sidecar');
    await k.apply(`${DEPLOYMENTS}/sidecar`, base, 'alice');
    const withSidecar = structuredClone(base);
    withSidecar.spec.template.spec.containers = [{ name: 'proxy', image: 'envoy:1' }];
    delete withSidecar.spec.replicas;
    const res = await k.apply(`${DEPLOYMENTS}/sidecar`, withSidecar, 'mesh');
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.spec.template.spec.containers.map((c: any) => c.name),
      ['app', 'proxy'],
    );
    const mesh = res.body.metadata.managedFields.find((m: any) => m.manager === 'mesh');
    assert.deepEqual(Object.keys(mesh.fieldsV1['f:spec']['f:template']['f:spec']['f:containers']), [
      'k:{"name":"proxy"}',
    ]);
  });

  it('gives fields an update changed to its manager, so a later apply of another value conflicts', async () => {
    await k.apply(`${CM}/edited`, configMap('edited', { a: '1' }), 'alice');
    const edit = await kube(api.url, 'PATCH', `${CM}/edited?fieldManager=kubectl-edit`, { data: { a: '2' } }, MERGE);
    assert.deepEqual(managers(edit.body), ['kubectl-edit/Update']);
    const res = await k.apply(`${CM}/edited`, configMap('edited', { a: '1' }), 'alice');
    assert.equal(res.status, 409);
    assert.match(res.body.message, /conflict with "kubectl-edit"/);
  });

  it('ignores status in an apply to the main resource, and applies only status on /status', async () => {
    const withStatus = { ...deployment('applied-status'), status: { observedGeneration: 99 } };
    const main = await k.apply(`${DEPLOYMENTS}/applied-status`, withStatus, 'alice');
    assert.notEqual(main.body.status?.observedGeneration, 99);
    const status = await k.apply(
      `${DEPLOYMENTS}/applied-status/status`,
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'applied-status' },
        status: { collisionCount: 7 },
        spec: { replicas: 9 },
      },
      'operator',
    );
    assert.equal(status.status, 200);
    assert.equal(status.body.status.collisionCount, 7);
    assert.equal(status.body.spec.replicas, 2);
    const entry = status.body.metadata.managedFields.find((m: any) => m.manager === 'operator');
    assert.equal(entry.subresource, 'status');
  });

  it('takes a resourceVersion in an applied object as a precondition', async () => {
    await k.apply(`${CM}/pinned`, configMap('pinned', { a: '1' }), 'alice');
    const stale = { ...configMap('pinned', { a: '2' }), metadata: { name: 'pinned', resourceVersion: '1' } };
    assert.equal((await k.apply(`${CM}/pinned`, stale, 'alice')).status, 409);
  });
});
