// Watches on the test API server: events in order, resumption from a resourceVersion in the
// history window, bookmarks, 410 Expired past the window, selectors, and timeoutSeconds.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startKubeApiServer, type TestKubeApi } from '../helpers/kube/apiserver.js';
import { configMap, eventually, kubeAt, watchStream } from '../helpers/kube/request.js';

let api: TestKubeApi;
let k: ReturnType<typeof kubeAt>;
const CM = '/api/v1/namespaces/default/configmaps';
before(async () => {
  api = await startKubeApiServer({ historySize: 10, bookmarkIntervalMs: 100 });
  k = kubeAt(api.url);
});
after(() => api.close());

describe('watch', () => {
  it('resumes after a resourceVersion with every change since, in order, then streams new ones with bookmarks', async () => {
    const start = (await k.get(CM)).body.metadata.resourceVersion;
    await k.post(CM, configMap('one'));
    await k.merge(`${CM}/one`, { data: { a: '1' } });
    const w = watchStream(api.url, `${CM}?watch=true&resourceVersion=${start}&allowWatchBookmarks=true`);
    await eventually(() => (w.events.length >= 2 ? true : undefined), 'the replayed events');
    await k.delete(`${CM}/one`);
    await eventually(() => (w.events.some((e) => e.type === 'DELETED') ? true : undefined), 'the DELETED event');
    // A bookmark after the DELETED event: one sent before it (they come every so often, and a
    // busy machine can put one between the changes) rightly carries an older resourceVersion.
    const bookmark = await eventually(
      () => w.events.slice(w.events.findIndex((e) => e.type === 'DELETED')).find((e) => e.type === 'BOOKMARK'),
      'a bookmark after the DELETED event',
    );
    w.stop();
    const changes = w.events.filter((e) => e.type !== 'BOOKMARK');
    assert.deepEqual(
      changes.map((e) => [e.type, e.object.metadata.name]),
      [
        ['ADDED', 'one'],
        ['MODIFIED', 'one'],
        ['DELETED', 'one'],
      ],
    );
    assert.equal(changes[0].object.kind, 'ConfigMap', 'watch events carry kind and apiVersion');
    const rvs = changes.map((e) => Number(e.object.metadata.resourceVersion));
    assert.deepEqual(
      rvs,
      [...rvs].sort((a, b) => a - b),
    );
    assert.equal(bookmark.object.kind, 'ConfigMap');
    assert.ok(Number(bookmark.object.metadata.resourceVersion) >= rvs[2]!);
    assert.deepEqual(
      Object.keys(bookmark.object.metadata),
      ['resourceVersion'],
      'a bookmark carries only where to resume',
    );
    // Resuming from the last event seen replays nothing already seen.
    const resumed = watchStream(api.url, `${CM}?watch=true&resourceVersion=${rvs[1]}&timeoutSeconds=1`);
    assert.equal(await resumed.done, 200);
    assert.deepEqual(
      resumed.events.map((e) => e.type),
      ['DELETED'],
    );
  });

  it('answers a resourceVersion older than its history with one ERROR event: a 410 Expired Status', async () => {
    const old = (await k.get(CM)).body.metadata.resourceVersion;
    for (let i = 0; i < 12; i++) await k.post(CM, configMap(`fill-${i}`));
    const w = watchStream(api.url, `${CM}?watch=true&resourceVersion=${old}`);
    assert.equal(await w.done, 200, 'the stream ends by itself');
    assert.equal(w.events.length, 1);
    assert.equal(w.events[0].type, 'ERROR');
    assert.deepEqual(
      { kind: w.events[0].object.kind, code: w.events[0].object.code, reason: w.events[0].object.reason },
      { kind: 'Status', code: 410, reason: 'Expired' },
    );
    assert.match(w.events[0].object.message, /^too old resource version: \d+ \(\d+\)$/);
    // A list always answers with the current state: the way back after a 410.
    const list = await k.get(CM);
    assert.equal(list.status, 200);
    assert.equal(list.body.items.filter((i: any) => i.metadata.name.startsWith('fill-')).length, 12);
  });

  it('without a resourceVersion, starts with ADDED for every object, filtered by selector; leaving the selector is DELETED', async () => {
    await k.post(CM, configMap('picked', undefined, { watch: 'me' }));
    await k.post(CM, configMap('ignored'));
    const w = watchStream(api.url, `${CM}?watch=true&labelSelector=watch%3Dme`);
    await eventually(() => (w.events.length >= 1 ? true : undefined), 'the initial ADDED');
    await k.merge(`${CM}/ignored`, { metadata: { labels: { watch: 'me' } } });
    await k.merge(`${CM}/picked`, { metadata: { labels: { watch: 'not-now' } } });
    await eventually(() => (w.events.length >= 3 ? true : undefined), 'the selector changes');
    w.stop();
    assert.deepEqual(
      w.events.map((e) => [e.type, e.object.metadata.name]),
      [
        ['ADDED', 'picked'],
        ['ADDED', 'ignored'],
        ['DELETED', 'picked'],
      ],
    );
  });

  it('sends each event as a one-row Table when asked for Tables, as kubectl get -w does', async () => {
    const w = watchStream(
      api.url,
      `${CM}?watch=true&resourceVersion=${api.resourceVersion()}`,
      'application/json;as=Table;v=v1;g=meta.k8s.io',
    );
    await k.post(CM, configMap('tabled'));
    const event = await eventually(() => w.events[0], 'the event');
    w.stop();
    assert.equal(event.type, 'ADDED');
    assert.equal(event.object.kind, 'Table');
    assert.deepEqual(
      event.object.rows.map((r: any) => r.cells[0]),
      ['tabled'],
    );
  });

  it('ends the stream after timeoutSeconds', async () => {
    const rv = api.resourceVersion();
    const started = Date.now();
    const w = watchStream(api.url, `${CM}?watch=true&resourceVersion=${rv}&timeoutSeconds=1`);
    assert.equal(await w.done, 200);
    assert.ok(Date.now() - started >= 900);
  });

  it('refuses a resourceVersion that is not a number with 400', async () => {
    const res = await k.get(`${CM}?watch=true&resourceVersion=abc`);
    assert.equal(res.status, 400);
    assert.equal(res.body.kind, 'Status');
  });
});
