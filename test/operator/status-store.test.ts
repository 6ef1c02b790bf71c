/**
 * The status store on a Rollout resource of the test API server: a saved status reaches
 * the status subresource (with the columns and conditions people read), `durable()` says
 * when, a user's spec edit in between is not a reason to stop, and another replica's stamp
 * is: the store stops writing and says it lost the rollout.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { refOf, type KubeObject } from '../../src/kube/api.js';
import { initialStatus } from '../../src/rollout/machine.js';
import { KubeStatusStore } from '../../src/store/kubernetes.js';
import { doc } from '../helpers/engine-world.js';
import { ROLLOUT_CRD, startCluster, type TestCluster } from '../helpers/kube/cluster.js';

let cluster: TestCluster;
before(async () => {
  cluster = await startCluster();
  await cluster.client.create(ROLLOUT_CRD);
});
after(() => cluster.close());

const spec = doc([{ setWeight: 20 }]).spec;

async function rollout(name: string): Promise<KubeObject> {
  return cluster.client.create({
    apiVersion: 'kanari.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name, namespace: 'default' },
    spec: { workloadRef: { name } },
  });
}

function open(resource: KubeObject, identity = 'a') {
  const lost: string[] = [];
  const store = new KubeStatusStore({
    client: cluster.client,
    resource,
    identity,
    onLost: (why) => lost.push(why),
    log: () => {},
  });
  store.putRollout({ name: resource.metadata.name, document: {}, templates: {}, status: initialStatus(spec, 1000) });
  return { store, lost };
}

const statusOf = (name: string) => cluster.api.get('kanari.dev/v1alpha1', 'Rollout', 'default', name)?.status;

describe('the status store on a Rollout resource', () => {
  it('writes each saved status behind, with its columns and conditions, and says when it is durable', async () => {
    const { store } = open(await rollout('one'));
    await store.durable();
    assert.equal(statusOf('one').phase, 'StableOnly');
    assert.equal(statusOf('one').weight, 0);
    const healthy = statusOf('one').conditions.find((c: { type: string }) => c.type === 'Healthy');
    assert.equal(healthy.status, 'True');
    const moving = { ...initialStatus(spec, 2000), phase: 'SmallTraffic' as const, message: 'canary at 20%' };
    moving.traffic = { ...moving.traffic, weights: { canary: 20, baseline: 0 } };
    store.saveTransition('one', [], moving);
    assert.notEqual(statusOf('one').phase, 'SmallTraffic', 'behind: not written yet when saveTransition returns');
    await store.durable();
    assert.equal(statusOf('one').phase, 'SmallTraffic');
    assert.equal(statusOf('one').weight, 20);
    assert.equal(statusOf('one').state.message, 'canary at 20%');
    assert.equal(statusOf('one').writer.identity, 'a');
    const progressing = statusOf('one').conditions.find((c: { type: string }) => c.type === 'Progressing');
    assert.equal(progressing.status, 'True');
  });

  it('writes on after a user changed the spec under it (a conflict that is not a lost rollout)', async () => {
    const resource = await rollout('two');
    const { store, lost } = open(resource);
    await store.durable();
    const now = await cluster.client.get(refOf(resource));
    await cluster.client.replace({ ...now!, spec: { workloadRef: { name: 'two' }, replicas: 3 } });
    store.saveTransition('two', [], { ...initialStatus(spec, 3000), message: 'after the edit' });
    await store.durable();
    assert.equal(statusOf('two').state.message, 'after the edit');
    assert.deepEqual(lost, []);
  });

  it('stops writing once another replica has written the status, and says so', async () => {
    const resource = await rollout('three');
    const { store, lost } = open(resource);
    await store.durable();
    const now = await cluster.client.get(refOf(resource));
    await cluster.client.replace(
      { ...now!, status: { ...now!.status!, writer: { identity: 'b', seq: 1 }, message: 'b was here' } },
      { status: true },
    );
    store.saveTransition('three', [], { ...initialStatus(spec, 4000), message: 'a, too late' });
    const settled = await Promise.race([
      store.durable().then(() => 'durable'),
      new Promise((r) => setTimeout(() => r('pending'), 500)),
    ]);
    assert.equal(settled, 'pending', 'never durable: it was not written');
    assert.equal(lost.length, 1);
    assert.match(lost[0]!, /replica b has written its status since/);
    assert.equal(statusOf('three').message, 'b was here');
  });

  it('takes a rollout over from the last leader’s stamp: a user’s edit before its first write is retried, not read as a rival', async () => {
    const resource = await rollout('four');
    const first = open(resource, 'old-leader');
    await first.store.durable();
    // The new leader read the resource (with the old leader's stamp); then a user edited it.
    const read = (await cluster.client.get(refOf(resource)))!;
    await cluster.client.replace({ ...read, spec: { workloadRef: { name: 'four' }, replicas: 2 } });
    const { store, lost } = open(read, 'new-leader');
    const settled = await Promise.race([
      store.durable().then(() => 'durable'),
      new Promise((r) => setTimeout(() => r('pending'), 5000)),
    ]);
    assert.deepEqual(lost, []);
    assert.equal(settled, 'durable');
    assert.equal(statusOf('four').writer.identity, 'new-leader');
  });
});
