// The whole HTTP KubeClient against the test API server: what the adapters and the operator
// do through it — CRUD, conflicts, the status subresource, the three patch types, a CRD
// installed after start, watches with bookmarks, 410 for a version compacted away, and an informer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KubeConflict, KubeError, KubeGone, type KubeObject, type WatchEvent } from '../../src/kube/api.js';
import type { HttpKubeClient } from '../../src/kube/http-client.js';
import { watchKind } from '../../src/kube/informer.js';
import { updateObject } from '../../src/kube/update.js';
import { ROLLOUT_CRD, startCluster, type TestCluster } from '../helpers/kube/cluster.js';

let cluster: TestCluster;
let client: HttpKubeClient;
before(async () => {
  cluster = await startCluster({ historySize: 20, bookmarkIntervalMs: 100 });
  client = cluster.client;
});
after(async () => {
  client.close();
  await cluster.close();
});

const configMap = (
  name: string,
  data: Record<string, string> = {},
  labels: Record<string, string> = {},
): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'default', labels },
  data,
});
const ref = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name });

async function rejection(promise: Promise<unknown>): Promise<KubeError> {
  const err = await promise.then(
    () => assert.fail('expected a KubeError'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof KubeError, String(err));
  return err;
}

async function eventually<T>(read: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`never: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the HTTP KubeClient against the test API server', () => {
  it('creates, reads, lists, replaces at a version and deletes with preconditions', async () => {
    const created = await client.create(configMap('web', { a: '1' }, { app: 'web' }));
    assert.ok(created.metadata.uid && created.metadata.resourceVersion);
    const exists = await rejection(client.create(configMap('web')));
    assert.ok(exists instanceof KubeConflict && exists.reason === 'AlreadyExists');
    await client.create(configMap('other', {}, { app: 'other' }));
    assert.deepEqual((await client.get(ref('web')))?.data, { a: '1' });
    assert.equal(await client.get(ref('missing')), undefined);
    const list = await client.list('v1', 'ConfigMap', 'default', { labelSelector: 'app=web' });
    assert.deepEqual(
      list.items.map((o) => [o.apiVersion, o.kind, o.metadata.name]),
      [['v1', 'ConfigMap', 'web']],
    );
    assert.match(list.resourceVersion, /^\d+$/);

    const replaced = await client.replace({ ...created, data: { a: '2' } });
    const stale = await rejection(client.replace({ ...created, data: { a: 'stale' } }));
    assert.ok(stale instanceof KubeConflict && stale.reason === 'Conflict', 'a write at an old version is refused');
    assert.match(stale.message, /the object has been modified/);
    // updateObject retries a conflict from a fresh read: the contract's read-modify-write works over HTTP.
    const updated = await updateObject(client, ref('web'), (cm) => ({
      ...cm,
      data: { ...(cm.data as object), b: '3' },
    }));
    assert.deepEqual(updated.data, { a: '2', b: '3' });

    const wrongVersion = await rejection(
      client.delete(ref('web'), { preconditions: { resourceVersion: replaced.metadata.resourceVersion! } }),
    );
    assert.ok(wrongVersion instanceof KubeConflict, 'a delete at a version no longer current is refused');
    assert.equal(await client.delete(ref('web'), { preconditions: { uid: created.metadata.uid! } }), true);
    assert.equal(await client.delete(ref('web')), false);
    assert.equal(await client.get(ref('web')), undefined);
  });

  it('finds a CRD installed after it started, writes its status apart, and patches it three ways', async () => {
    assert.equal(await client.resource('kanari.dev/v1alpha1', 'Rollout'), undefined);
    await client.create(ROLLOUT_CRD as unknown as KubeObject);
    const info = await eventually(() => client.resource('kanari.dev/v1alpha1', 'Rollout'), 'the Rollout kind served');
    assert.deepEqual(info, {
      apiVersion: 'kanari.dev/v1alpha1',
      kind: 'Rollout',
      plural: 'rollouts',
      namespaced: true,
      subresources: ['status'],
    });

    const rollout = {
      apiVersion: 'kanari.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'w', namespace: 'default' },
      spec: { size: 1 },
    };
    const created = await client.create(rollout);
    const withStatus = await client.replace(
      { ...created, spec: { size: 99 }, status: { phase: 'Ready' } },
      { status: true },
    );
    assert.deepEqual(
      [withStatus.spec, withStatus.status],
      [{ size: 1 }, { phase: 'Ready' }],
      'status only, on /status',
    );
    const rolloutRef = { apiVersion: 'kanari.dev/v1alpha1', kind: 'Rollout', namespace: 'default', name: 'w' };

    assert.deepEqual((await client.patch(rolloutRef, 'merge', { spec: { color: 'red' } })).spec, {
      size: 1,
      color: 'red',
    });
    const jsonPatched = await client.patch(rolloutRef, 'json', [{ op: 'replace', path: '/spec/size', value: 2 }]);
    assert.deepEqual(jsonPatched.spec, { size: 2, color: 'red' });
    const failedTest = await rejection(
      client.patch(rolloutRef, 'json', [{ op: 'test', path: '/spec/size', value: 7 }]),
    );
    assert.equal(failedTest.status, 422);

    const applied = {
      apiVersion: 'kanari.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'w', namespace: 'default' },
      spec: { size: 3 },
    };
    // The patches above were recorded as updates by "kanari" (the user agent); an apply takes their fields only by force.
    const unforced = await rejection(client.patch(rolloutRef, 'apply', applied, { fieldManager: 'kanari' }));
    assert.ok(unforced instanceof KubeConflict);
    await client.patch(rolloutRef, 'apply', applied, { fieldManager: 'kanari', force: true });
    const contested = await rejection(
      client.patch(rolloutRef, 'apply', { ...applied, spec: { size: 4 } }, { fieldManager: 'someone' }),
    );
    assert.ok(contested instanceof KubeConflict, 'applying over another manager’s field is a conflict');
    const forced = await client.patch(
      rolloutRef,
      'apply',
      { ...applied, spec: { size: 4 } },
      { fieldManager: 'someone', force: true },
    );
    assert.equal((forced.spec as { size: number }).size, 4);
    const statusApplied = await client.patch(
      rolloutRef,
      'apply',
      {
        apiVersion: 'kanari.dev/v1alpha1',
        kind: 'Rollout',
        metadata: { name: 'w', namespace: 'default' },
        status: { phase: 'Done' },
      },
      { fieldManager: 'kanari', status: true, force: true }, // the replace above owns status.phase
    );
    assert.deepEqual(statusApplied.status, { phase: 'Done' });
  });

  it('watches from a list with bookmarks, and answers KubeGone for a version compacted away', async () => {
    const start = await client.list('v1', 'ConfigMap', 'default');
    const events: WatchEvent[] = [];
    const watch = client.watch(
      'v1',
      'ConfigMap',
      { namespace: 'default', resourceVersion: start.resourceVersion },
      (e) => events.push(e),
    );
    const created = await client.create(configMap('watched', { v: '1' }));
    await client.replace({ ...created, data: { v: '2' } });
    await client.delete(ref('watched'));
    await eventually(
      async () =>
        events.some((e) => e.type === 'BOOKMARK') && events.some((e) => e.type === 'DELETED') ? true : undefined,
      'a bookmark and the delete',
    );
    watch.stop();
    await watch.done;
    assert.deepEqual(
      events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.object.metadata.name}`),
      ['ADDED watched', 'MODIFIED watched', 'DELETED watched'],
    );
    // Resumed from the last version seen, a watch gets what happened since, and nothing before.
    const last = events.at(-1)!.object.metadata.resourceVersion!;
    await client.create(configMap('after'));
    const resumed: string[] = [];
    const again = client.watch('v1', 'ConfigMap', { namespace: 'default', resourceVersion: last }, (e) => {
      if (e.type !== 'BOOKMARK') resumed.push(`${e.type} ${e.object.metadata.name}`);
    });
    await eventually(async () => (resumed.length > 0 ? true : undefined), 'the event after the resume point');
    again.stop();
    await again.done;
    assert.deepEqual(resumed, ['ADDED after']);
    // More changes than the server keeps: a watch from the first version is told to list again.
    for (let i = 0; i < 25; i++) await client.create(configMap(`filler-${i}`));
    const old = client.watch(
      'v1',
      'ConfigMap',
      { namespace: 'default', resourceVersion: start.resourceVersion },
      () => {},
    );
    assert.ok((await rejection(old.done)) instanceof KubeGone);
  });

  it('keeps an informer in step with creates, updates and deletes (its relist on 410 is in informer.test.ts)', async () => {
    const seen = new Map<string, string>();
    const calls: string[] = [];
    const informer = watchKind(
      client,
      'v1',
      'ConfigMap',
      'default',
      {
        synced: (objects) => {
          calls.push('synced');
          seen.clear();
          for (const o of objects) seen.set(o.metadata.name, String((o.data as { v?: string } | undefined)?.v));
        },
        changed: (e) => {
          if (e.type === 'DELETED') seen.delete(e.object.metadata.name);
          else seen.set(e.object.metadata.name, String((e.object.data as { v?: string } | undefined)?.v));
        },
      },
      { labelSelector: 'informed=yes', retryMs: 50 },
    );
    try {
      await client.create(configMap('i1', { v: '1' }, { informed: 'yes' }));
      await eventually(async () => (seen.get('i1') === '1' ? true : undefined), 'i1 seen');
      await client.create(configMap('i2', { v: '1' }, { informed: 'yes' }));
      await updateObject(client, ref('i1'), (cm) => ({ ...cm, data: { v: '2' } }));
      await client.delete(ref('i2'));
      await eventually(async () => (seen.get('i1') === '2' && !seen.has('i2') ? true : undefined), 'the changes seen');
      assert.deepEqual(calls, ['synced']);
    } finally {
      await informer.stop();
    }
  });
});
