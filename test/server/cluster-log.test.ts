/**
 * The operator's log routes (src/server/cluster-log.ts) against a scripted API server: what
 * many streams of one Rollout cost it while it fails or once the Rollout is gone, and what
 * the replica keeps in memory. One real HTTP server on 127.0.0.1; the Kubernetes client is a
 * stub that counts its reads.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { KubeError, type KubeClient, type KubeObject, type ObjectRef } from '../../src/kube/api.js';
import { ClusterLogs } from '../../src/server/cluster-log.js';
import { sendProblem } from '../../src/server/routes.js';
import { LOG_KEY } from '../../src/store/kubernetes-log-document.js';
import { SseReader } from '../helpers/sse.js';

let mode: 'ok' | 'down' | 'gone' = 'ok';
let gets = 0;
const configMap = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'web.kanari-log', namespace: 'default' },
  data: {
    [LOG_KEY]: JSON.stringify({
      v: 1,
      lastId: 1,
      droppedThrough: 0,
      events: [{ id: 1, revision: 1, at: 1, type: 'deploy', data: { version: 'v2' } }],
      history: [],
    }),
  },
} as unknown as KubeObject;
const client = {
  get(ref: ObjectRef) {
    gets++;
    if (mode === 'down') return Promise.reject(new KubeError(0, 'Unreachable', 'connect ECONNREFUSED 10.0.0.1:443'));
    if (mode === 'gone') return Promise.resolve(undefined);
    return Promise.resolve(ref.kind === 'ConfigMap' ? configMap : { metadata: { name: ref.name } });
  },
} as unknown as KubeClient;

const locate = (ref: string) => ({ namespace: 'default', name: ref });
let logs: ClusterLogs;
let server: http.Server;
let port = 0;

before(async () => {
  // Reads kept a minute: a test that sees more reads than the first one's saw them made again.
  logs = new ClusterLogs({ client, locate, cacheMs: 60_000, pollMs: 10, heartbeatMs: 0 });
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const name = url.pathname.slice(1);
    logs
      .serve(req, res, url.searchParams, name, () => Promise.resolve(true))
      .catch((err: unknown) => sendProblem(req, res, err, () => {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`${what} within ${ms} ms (${gets} reads of the API server)`);
    await sleep(10);
  }
}

const heartbeats = (s: SseReader) => s.raw.split(': heartbeat').length - 1;

describe('the streams of a Rollout’s log, many at once', () => {
  it('ask the API server once per cached read while it fails, not once per stream per poll', async () => {
    mode = 'ok';
    const streams = Array.from({ length: 4 }, () => new SseReader(`http://127.0.0.1:${port}/web?after=0`, {}));
    await until('every stream has the backlog', () => streams.every((s) => s.lastId === 1));
    mode = 'down';
    await assert.rejects(logs.read('web', true), /the Kubernetes API server: connect ECONNREFUSED/);
    const asked = gets;
    const beats = streams.map(heartbeats);
    await until('each stream polled ten times more', () => streams.every((s, i) => heartbeats(s) >= beats[i]! + 10));
    assert.equal(gets, asked, 'the failed read is shared as a good one is, for the cache’s time');
    assert.ok(
      streams.every((s) => s.status === 200 && !s.raw.includes('event: reset')),
      'the streams wait through it',
    );
    for (const s of streams) s.close();
  });

  it('end once the Rollout is gone', async () => {
    mode = 'ok';
    await logs.read('web', true);
    const streams = Array.from({ length: 3 }, () => new SseReader(`http://127.0.0.1:${port}/web?after=0`, {}));
    await until('every stream has the backlog', () => streams.every((s) => s.lastId === 1));
    mode = 'gone';
    await assert.rejects(logs.read('web', true), /no Rollout web in namespace default/);
    let ended = 0;
    for (const s of streams) void s.closed.then(() => ended++);
    await until('the streams of the deleted Rollout end', () => ended === streams.length);
    const again = new SseReader(`http://127.0.0.1:${port}/web`, {});
    await again.closed;
    assert.equal(again.status, 404);
  });
});

/** A replica's log routes over the counting client, on a port of their own. */
async function replicaOf(o: { cacheMs: number; maxClients: number }): Promise<{ url: string; close(): void }> {
  const own = new ClusterLogs({ client, locate, pollMs: 10, heartbeatMs: 0, ...o });
  const at = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    own
      .serve(req, res, url.searchParams, url.pathname.slice(1), () => Promise.resolve(true))
      .catch((err: unknown) => sendProblem(req, res, err, () => {}));
  });
  await new Promise<void>((resolve) => at.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(at.address() as AddressInfo).port}`,
    close: () => {
      at.closeAllConnections();
      at.close();
    },
  };
}

describe('what a cursor past the log’s end costs the API server', () => {
  it('nothing when every stream is taken: the next is refused (503, Retry-After) before any read', async () => {
    mode = 'ok';
    // Reads kept a minute: the two streams held poll from the cache, and any read seen is the refused ones'.
    const r = await replicaOf({ cacheMs: 60_000, maxClients: 2 });
    const held = [new SseReader(`${r.url}/web`, {}), new SseReader(`${r.url}/web`, {})];
    try {
      await until('both streams have the backlog', () => held.every((s) => s.lastId === 1));
      const asked = gets;
      for (let i = 0; i < 10; i++) {
        const refused = new SseReader(`${r.url}/${i % 2 ? 'web' : 'other'}`, { 'last-event-id': '999999999999999' });
        await refused.closed;
        assert.equal(refused.status, 503, refused.raw);
        assert.equal(refused.headers['retry-after'], '5');
        assert.equal(refused.headers['content-type'], 'application/problem+json');
        assert.match(JSON.parse(refused.raw).detail, /too many event stream clients \(at most 2\)/);
      }
      assert.equal(gets, asked, 'no read for a stream that could not be served');
    } finally {
      for (const s of held) s.close();
      r.close();
    }
  });

  it('no read of its own: a reconnect storm past the end waits for the shared read, then is told reset', async () => {
    mode = 'ok';
    const r = await replicaOf({ cacheMs: 1000, maxClients: 64 });
    const asked = gets;
    const storm = Array.from({ length: 40 }, () => new SseReader(`${r.url}/web`, { 'last-event-id': '999999' }));
    try {
      await until(
        'every stream told reset, then sent the log from its first event',
        () => storm.every((s) => s.events.some((e) => e.event === 'reset') && s.lastId === 1),
        30_000,
      );
      // One read per second of the cache at most, however many streams: the storm took a few seconds at most.
      assert.ok(gets - asked < storm.length / 2, `${gets - asked} reads for ${storm.length} streams`);
    } finally {
      for (const s of storm) s.close();
      r.close();
    }
  });
});

describe('a stream whose client leaves while the log is read', () => {
  it('gives its place back: a client gone before its stream began holds none of the replica’s streams', async () => {
    // Each read of the API server waits for the test to answer it (a slow API server; a viewer may force a
    // read past the cache with a Last-Event-ID beyond the log's end).
    const asked: (() => void)[] = [];
    const slow = {
      get: (ref: ObjectRef) =>
        new Promise((resolve) => asked.push(() => resolve(ref.kind === 'ConfigMap' ? configMap : {}))),
    } as unknown as KubeClient;
    const one = new ClusterLogs({ client: slow, locate, cacheMs: 0, pollMs: 10, maxClients: 1 });
    let left = 0;
    let served = 0;
    const at = http.createServer((req, res) => {
      res.once('close', () => left++);
      const url = new URL(req.url ?? '/', 'http://localhost');
      one
        .serve(req, res, url.searchParams, 'web', () => Promise.resolve(true))
        .catch((err: unknown) => sendProblem(req, res, err, () => {}))
        .finally(() => served++);
    });
    await new Promise<void>((resolve) => at.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(at.address() as AddressInfo).port}/web`;
    try {
      const gone = new SseReader(url, {});
      await until('the stream asked the API server', () => asked.length > 0);
      gone.close();
      await until('the server saw the client leave', () => left === 1);
      // Only now does the API server answer: the stream either gives up, or polls (asks again) for no one.
      asked.splice(0).forEach((a) => a());
      await until('the first stream given up or polling', () => served === 1 || asked.length > 0);
      // From here on the API server answers every read at once.
      const answer = setInterval(() => asked.splice(0).forEach((a) => a()), 5);
      try {
        let status = 0;
        const deadline = Date.now() + 10_000;
        while (status !== 200) {
          if (Date.now() > deadline) assert.fail(`a new stream is still refused (${status}) 10 s after the first left`);
          const next = new SseReader(url, {});
          await until('an answer', () => next.status !== 0 || next.raw !== '');
          status = next.status;
          next.close();
          await sleep(20);
        }
      } finally {
        clearInterval(answer);
      }
    } finally {
      at.closeAllConnections();
      at.close();
    }
  });
});

describe('what a replica keeps of the logs it read', () => {
  it('holds a log no longer than it may answer from it', async () => {
    mode = 'ok';
    const short = new ClusterLogs({ client, locate, cacheMs: 20 });
    // Its cache, which nothing outside shows: what is held there is what this test is about.
    const held = () => (short as unknown as { cache: Map<string, unknown> }).cache.size;
    for (const name of ['a', 'b', 'c']) await short.read(name);
    await sleep(40);
    await short.read('d');
    assert.equal(held(), 1, 'a, b and c were read over 20 ms ago: never answered from again, so not held');
  });
});
