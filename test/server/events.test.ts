/**
 * The event stream in process: backlog then live events, resumed from `after` or
 * Last-Event-ID, filtered by rollout, measurements included; and what an attacker could
 * try: bad ids, header tricks, too many clients, a client that never reads.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApiServer } from '../../src/server/api.js';
import { Controller } from '../../src/server/controller.js';
import { EventStream } from '../../src/server/events.js';
import { Store } from '../../src/store/sqlite.js';
import { request } from '../helpers/http.js';
import { SseReader } from '../helpers/sse.js';

const TOKEN = 'events-test-token';
const dir = mkdtempSync(join(tmpdir(), 'kanari-events-'));
let controller: Controller;
let server: http.Server;
let port: number;
const readers: SseReader[] = [];

before(async () => {
  controller = new Controller(dir);
  // The controller holds shop and cart, as far as the per-rollout stream asks: this file is about the stream, not apply.
  controller.has = (name) => name === 'shop' || name === 'cart';
  server = createApiServer(controller, TOKEN, () => {}, {
    log: () => {},
    events: { heartbeatMs: 200, maxClients: 4 },
  }) as http.Server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  for (const r of readers) r.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await controller.close();
  rmSync(dir, { recursive: true, force: true });
});

function open(query = '', headers: Record<string, string> = {}, path = '/api/v1/events'): SseReader {
  const r = new SseReader(`http://127.0.0.1:${port}${path}${query}`, {
    authorization: `Bearer ${TOKEN}`,
    ...headers,
  });
  readers.push(r);
  return r;
}

const add = (rollout: string, type: string, n: number) => {
  for (let i = 0; i < n; i++) controller.store.appendEvent(rollout, 1, Date.now(), type, { i });
};
const ids = (r: SseReader) => r.events.filter((e) => e.id !== undefined).map((e) => e.id!);

describe('GET /api/v1/events', () => {
  it('sends the backlog, then live events, each with its id, and heartbeats', async () => {
    add('shop', 'status', 3);
    const r = open();
    await r.until((e) => e.length === 3, 10_000, 'the backlog');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/event-stream/);
    add('cart', 'status', 2);
    await r.until((e) => e.length === 5, 10_000, 'the live events');
    assert.deepEqual(ids(r), [1, 2, 3, 4, 5]);
    assert.deepEqual(
      r.events.map((e) => [e.data.id, e.data.rollout, e.data.type]),
      [
        [1, 'shop', 'status'],
        [2, 'shop', 'status'],
        [3, 'shop', 'status'],
        [4, 'cart', 'status'],
        [5, 'cart', 'status'],
      ],
    );
    await r.until(() => r.raw.includes(': heartbeat'), 10_000, 'a heartbeat');
    r.close();
  });

  it('resumes after ?after=ID, or after Last-Event-ID, which wins over ?after', async () => {
    const byQuery = open('?after=3');
    const byHeader = open('?after=1', { 'last-event-id': '4' });
    await byQuery.until((e) => e.length === 2);
    await byHeader.until((e) => e.length === 1);
    assert.deepEqual(ids(byQuery), [4, 5]);
    assert.deepEqual(ids(byHeader), [5]);
    const emptyHeader = open('?after=4', { 'last-event-id': '' });
    await emptyHeader.until((e) => e.length === 1);
    assert.deepEqual(ids(emptyHeader), [5]);
    emptyHeader.close();
    byQuery.close();
    byHeader.close();
  });

  it('starts after the newest event with ?after=now, as a page that reads the state next asks', async () => {
    const newest = controller.store.eventsAfter(0, { limit: 100_000 }).at(-1)!.id;
    const r = open('?after=now');
    await r.until(() => r.status === 200, 10_000, 'the stream to open');
    add('shop', 'status', 1);
    await r.until((e) => e.length === 1, 10_000, 'the live event');
    assert.deepEqual(ids(r), [newest + 1]);
    r.close();
  });

  it('keeps to one rollout with ?rollout=NAME', async () => {
    const r = open('?rollout=cart');
    add('shop', 'status', 1);
    add('cart', 'deploy', 1);
    await r.until((e) => e.some((x) => x.data.type === 'deploy'));
    assert.deepEqual(
      r.events.map((e) => e.data.rollout),
      ['cart', 'cart', 'cart'],
    );
    r.close();
  });

  it('serves one rollout’s stream at /api/v1/rollouts/NAME/events too, the path both modes serve', async () => {
    const r = open('?after=0', {}, '/api/v1/rollouts/cart/events');
    add('shop', 'status', 1);
    add('cart', 'result', 1);
    await r.until((e) => e.some((x) => x.data.type === 'result'));
    assert.deepEqual(
      r.events.map((e) => e.data.rollout),
      ['cart', 'cart', 'cart', 'cart'],
    );
    const last = ids(r).at(-1)!;
    const resumed = open('?rollout=shop', { 'last-event-id': String(last - 1) }, '/api/v1/rollouts/cart/events');
    await resumed.until((e) => e.length === 1);
    assert.deepEqual(ids(resumed), [last], 'its own rollout only, whatever ?rollout says');
    r.close();
    resumed.close();
  });

  it('answers a rollout it does not hold with 404 at /api/v1/rollouts/NAME/events, as a problem', async () => {
    for (const name of ['ghost', 'ghost%2Fx', 'sh%6Fp2']) {
      const r = open('', {}, `/api/v1/rollouts/${name}/events`);
      await r.until(() => r.status !== 0, 10_000, 'an answer');
      // A stream would stay open.
      if (r.status === 200) r.close();
      await r.closed;
      assert.equal(r.status, 404, `${name}: ${r.raw}`);
      assert.equal(r.headers['content-type'], 'application/problem+json');
      assert.match(JSON.parse(r.raw).detail, /^no rollout named /);
    }
  });

  it('starts a rollout’s own stream after its last delete, and ends it with the next', async () => {
    add('mug', 'status', 2);
    controller.store.deleteRollout('mug', 1, Date.now());
    add('mug', 'status', 1);
    const fresh = controller.store.eventsAfter(0, { rollout: 'mug', limit: 100 }).at(-1)!.id;
    const known = controller.has;
    controller.has = (name) => name === 'mug' || known(name);
    const r = open('?after=0', {}, '/api/v1/rollouts/mug/events');
    try {
      await r.until((e) => e.length === 1, 10_000, 'the backlog of this incarnation');
      assert.deepEqual(ids(r), [fresh], 'not the events before its delete');
      controller.store.deleteRollout('mug', 1, Date.now());
      add('mug', 'status', 1);
      const ended = await Promise.race([r.closed.then(() => true), sleep(10_000).then(() => false)]);
      assert.ok(ended, `the stream ended with the delete; got ${r.raw}`);
      assert.deepEqual(
        r.events.map((e) => e.data.type),
        ['status', 'deleted'],
        'the deleted event, then the end',
      );
    } finally {
      r.close();
      controller.has = known;
    }
  });

  it('carries an analysis run’s measurements, in the transaction that saves them', () => {
    const before = controller.store.eventsAfter(0, { limit: 100_000 }).length;
    const m = { metric: 'errors', window: { start: 0, end: 1000 }, outcome: 'value' as const, value: 1 };
    controller.store.saveRun('shop', 2, 'run-1', {} as never, {} as never, 1000, { from: 4, items: [m, m] });
    const added = controller.store.eventsAfter(0, { limit: 100_000 }).slice(before);
    assert.deepEqual(
      added.map((e) => [e.type, e.data.run, e.data.n, e.data.metric]),
      [
        ['measurement', 'run-1', 4, 'errors'],
        ['measurement', 'run-1', 5, 'errors'],
      ],
    );
  });

  it('refuses ids that are not ids, and duplicated Last-Event-ID headers, with 400', async () => {
    for (const q of ['?after=-1', '?after=1e3', '?after=abc', `?after=${'9'.repeat(16)}`, '?after=0x10']) {
      const r = await request(port, { path: `/api/v1/events${q}`, headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(r.status, 400, `${q}: ${r.body}`);
      assert.match(r.body, /after must be an event id/);
    }
    const raw = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () =>
        s.write(
          `GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nLast-Event-ID: 1\r\nLast-Event-ID: 2\r\nConnection: close\r\n\r\n`,
        ),
      );
      let got = '';
      s.on('data', (c) => (got += c.toString()));
      s.on('close', () => resolve(got));
    });
    assert.match(raw, /^HTTP\/1\.1 400/);
    assert.match(raw, /the Last-Event-ID header must be an event id/);
  });

  it('serves at most maxClients streams, and answers the next with 503', async () => {
    const held = [open(), open(), open(), open()];
    await Promise.all(held.map((r) => r.until(() => r.status === 200)));
    const r = await request(port, { path: '/api/v1/events', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 503, r.body);
    assert.match(r.body, /too many event stream clients \(at most 4\)/);
    for (const h of held) h.close();
    await sleep(200);
    const again = open('?after=999999');
    await again.until(() => again.status === 200);
    again.close();
  });
});

/** An event stream alone, on an in-memory store, with short stall and heartbeat times. */
async function streamOnly(): Promise<{ store: Store; stream: EventStream; s: http.Server }> {
  const store = new Store(':memory:');
  const stream = new EventStream(store, { heartbeatMs: 100, stallMs: 500, maxClients: 2, pageSize: 20 });
  const s = http.createServer((req, res) => stream.serve(req, res, new URL(req.url!, 'http://x').searchParams));
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { store, stream, s };
}

describe('a client that does not read', () => {
  it('is fed only what its socket takes, then told where it stopped and disconnected', async () => {
    const { store, stream, s } = await streamOnly();
    const big = { blob: 'x'.repeat(10_000) };
    try {
      const socket = net.connect((s.address() as AddressInfo).port, '127.0.0.1');
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      socket.pause();
      while (stream.size === 0) await sleep(20);
      // 40 MB waiting: all of it in memory would show.
      for (let i = 0; i < 4000; i++) store.appendEvent('shop', 1, i, 'status', big);
      let maxBuffered = 0;
      for (const deadline = Date.now() + 30_000; stream.size > 0 && Date.now() < deadline;) {
        for (const c of stream.buffered()) maxBuffered = Math.max(maxBuffered, c);
        await sleep(20);
      }
      assert.equal(stream.size, 0, 'the stalled client was disconnected');
      // At most a page of events past the socket's high-water mark (16 KiB).
      assert.ok(maxBuffered < 21 * 10_100 + 16_384, `buffered ${maxBuffered} bytes for one client`);
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => (text += c));
      socket.resume();
      await new Promise((resolve) => socket.on('close', resolve));
      const lastId = Number([...text.matchAll(/^id: (\d+)$/gm)].at(-1)![1]);
      const overflow = /event: overflow\ndata: (.*)\n/.exec(text);
      assert.ok(overflow, `told why: ${text.slice(-300)}`);
      assert.equal((JSON.parse(overflow[1]!) as { after: number }).after, lastId, 'resumes after what it got');
      assert.ok(lastId < 4000, `it was not sent everything (${lastId})`);
    } finally {
      stream.close();
      s.closeAllConnections();
      s.close();
      store.close();
    }
  });
});

describe('a store closed under the stream', () => {
  it('throws nowhere: an event saved just before the store closes ends the streams', async () => {
    const { store, stream, s } = await streamOnly();
    const r = new SseReader(`http://127.0.0.1:${(s.address() as AddressInfo).port}/`, {});
    try {
      while (stream.size === 0) await sleep(20);
      store.appendEvent('shop', 1, 0, 'status', {});
      store.close();
      await sleep(200);
      stream.close();
      const ended = await Promise.race([r.closed.then(() => true), sleep(10_000).then(() => false)]);
      assert.ok(ended, `the stream ended with the delete; got ${r.raw}`);
    } finally {
      r.close();
      s.closeAllConnections();
      s.close();
    }
  });
});
