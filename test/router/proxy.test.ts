import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { rawExchange, request, startUpstream, textFrame, unmaskFrame, type TestUpstream } from '../helpers/http.js';
import { byVersion, sendMany } from '../helpers/load.js';
import { startTestRouter, type TestRouter } from '../helpers/router.js';

let stable: TestUpstream;
let canary: TestUpstream;
let router: TestRouter;
const pools = () => ({ stable: [stable.url], canary: [canary.url] });

before(async () => {
  [stable, canary] = await Promise.all([startUpstream('stable'), startUpstream('canary')]);
  router = await startTestRouter({ pools: pools() }, { sticky: { header: 'x-user-id' } });
});
after(async () => {
  await router.close();
  await Promise.all([stable.close(), canary.close()]);
});

describe('weighted split', () => {
  for (const weight of [1, 5, 50]) {
    it(`sends ${weight}% of distinct users to the canary, within binomial bounds`, async () => {
      await router.setTable({ pools: pools(), weights: { canary: weight } });
      const n = 3000;
      const replies = await sendMany(router.port, n, 16, () => ({ headers: { 'x-user-id': randomUUID() } }));
      const got = byVersion(replies);
      const p = weight / 100;
      const sd = Math.sqrt(n * p * (1 - p));
      assert.equal((got.stable ?? 0) + (got.canary ?? 0), n, JSON.stringify(got));
      assert.ok(Math.abs((got.canary ?? 0) - n * p) < 4.5 * sd, `${weight}%: ${JSON.stringify(got)}`);
    });
  }

  it('splits requests without a stickiness key at random by weight', async () => {
    await router.setTable({ pools: pools(), weights: { canary: 50 } });
    const got = byVersion(await sendMany(router.port, 2000, 16));
    assert.ok(Math.abs((got.canary ?? 0) - 1000) < 4.5 * Math.sqrt(500), JSON.stringify(got));
  });
});

describe('pools', () => {
  it("spreads a pool's requests round-robin over its endpoints", async () => {
    const second = await startUpstream('stable-2');
    try {
      await router.setTable({ pools: { stable: [stable.url, second.url], canary: [canary.url] } });
      const got = byVersion(await sendMany(router.port, 100, 1));
      assert.deepEqual(got, { stable: 50, 'stable-2': 50 });
    } finally {
      await router.setTable({ pools: pools() });
      await second.close();
    }
  });
});

describe('stickiness', () => {
  it('keeps 1,000 users on their version as the weight steps 5 → 25 → 50 → 100, and rollback moves everyone', async () => {
    const users = Array.from({ length: 1000 }, (_, i) => `user-${i}`);
    let onCanary = new Set<string>();
    for (const weight of [5, 25, 50, 100]) {
      await router.setTable({ pools: pools(), weights: { canary: weight } });
      const replies = await sendMany(router.port, users.length, 16, (i) => ({ headers: { 'x-user-id': users[i]! } }));
      const now = new Set(users.filter((_, i) => replies[i]!.headers['x-app-version'] === 'canary'));
      for (const u of onCanary) assert.ok(now.has(u), `${u} flipped back to stable at ${weight}%`);
      const share = now.size / users.length;
      assert.ok(Math.abs(share - weight / 100) < 0.06, `${weight}%: ${now.size} users on canary`);
      onCanary = now;
    }
    assert.equal(onCanary.size, 1000);
    await router.setTable({ pools: pools(), weights: { canary: 0 } });
    const back = byVersion(
      await sendMany(router.port, users.length, 16, (i) => ({ headers: { 'x-user-id': users[i]! } })),
    );
    assert.deepEqual(back, { stable: 1000 });
  });

  it('gives a cookie to a new user and honours it afterwards', async () => {
    const cookieRouter = await startTestRouter({ pools: pools(), weights: { canary: 50 } });
    try {
      const first = await request(cookieRouter.port);
      const cookie = first.headers['set-cookie']?.[0];
      assert.match(cookie ?? '', /^kanari-svc=[\w-]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/);
      const jar = cookie!.split(';')[0]!;
      const again = await sendMany(cookieRouter.port, 50, 4, () => ({ headers: { cookie: `other=1; ${jar}` } }));
      assert.deepEqual(byVersion(again), { [first.headers['x-app-version'] as string]: 50 });
      assert.ok(again.every((r) => r.headers['set-cookie'] === undefined));
    } finally {
      await cookieRouter.close();
    }
  });
});

describe('match rules', () => {
  it('routes by header and cookie before weights', async () => {
    await router.setTable({
      pools: pools(),
      weights: { canary: 0 },
      match: [
        { header: { name: 'x-canary', exact: 'always' }, version: 'canary' },
        { cookie: { name: 'beta', regex: '^(yes|true)$' }, version: 'canary' },
      ],
    });
    assert.equal(
      (await request(router.port, { headers: { 'x-canary': 'always' } })).headers['x-app-version'],
      'canary',
    );
    assert.equal((await request(router.port, { headers: { cookie: 'beta=true' } })).headers['x-app-version'], 'canary');
    assert.equal(
      (await request(router.port, { headers: { cookie: 'beta=maybe' } })).headers['x-app-version'],
      'stable',
    );
    assert.equal((await request(router.port)).headers['x-app-version'], 'stable');
  });
});

describe('mirroring', () => {
  it('copies a share of requests to the canary and discards its answers', async () => {
    await router.setTable({ pools: pools(), weights: { canary: 0 }, mirror: { version: 'canary', percent: 100 } });
    const before = canary.received;
    const replies = await sendMany(router.port, 200, 8, (i) => ({
      method: 'POST',
      path: '/echo',
      body: `payload-${i}`,
    }));
    assert.deepEqual(byVersion(replies), { stable: 200 });
    // Mirrors finish on their own time; wait for them to land (up to 10 s: a busy machine can stall for one).
    for (let i = 0; i < 500 && canary.received - before < 200; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(canary.received - before, 200);
    assert.match(canary.last!.body, /^payload-\d+$/);
    const { json } = await router.admin('GET', '/stats');
    assert.ok(json.mirror.sent >= 200);
  });

  it('mirrors only the configured share', async () => {
    await router.setTable({ pools: pools(), weights: { canary: 0 }, mirror: { version: 'canary', percent: 10 } });
    const sent = async () => (await router.admin('GET', '/stats')).json.mirror.sent as number;
    const [before, sentBefore] = [canary.received, await sent()];
    await sendMany(router.port, 2000, 16);
    const mirrored = (await sent()) - sentBefore;
    // Every copy the router sent lands, in its own time: waited for (up to 10 s) rather than a
    // fixed 200 ms, which a busy machine can outlast and then count too few.
    for (let i = 0; i < 500 && canary.received - before < mirrored; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(canary.received - before, mirrored, 'every copy sent reached the canary');
    // Outside 4.5 sd by chance: 8e-6 (binomial, exactly).
    assert.ok(Math.abs(mirrored - 200) < 4.5 * Math.sqrt(2000 * 0.1 * 0.9), `mirrored ${mirrored} of 2000 at 10%`);
  });
});

describe('protocol', () => {
  before(async () => router.setTable({ pools: pools() }));

  it('drops hop-by-hop headers both ways and sets X-Forwarded-*', async () => {
    const reply = await request(router.port, {
      path: '/echo',
      headers: {
        connection: 'keep-alive, x-private',
        'x-private': 'secret',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        'x-forwarded-for': '203.0.113.9',
        'x-kept': '1',
        host: 'shop.example',
      },
    });
    const seen = JSON.parse(reply.body).headers as Record<string, string>;
    assert.equal(seen['x-private'], undefined);
    assert.equal(seen['keep-alive'], undefined);
    assert.equal(seen.te, undefined);
    assert.equal(seen['x-kept'], '1');
    assert.equal(seen.host, 'shop.example');
    assert.equal(seen['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.equal(seen['x-forwarded-host'], 'shop.example');
    const hop = await request(router.port, { path: '/hop' });
    assert.equal(hop.headers['x-secret'], undefined);
    assert.equal(hop.headers['x-kept'], 'yes');
    assert.equal(hop.body, 'hop');
  });

  it('streams large bodies both ways, chunked or not', async () => {
    const big = 'x'.repeat(5 * 1024 * 1024);
    const fixed = await request(router.port, { method: 'POST', path: '/echo', body: big });
    assert.equal(JSON.parse(fixed.body).body.length, big.length);
    const chunked = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: router.port, method: 'PUT', path: '/echo' }, (res) => {
        let data = '';
        res.on('data', (c) => (data += c));
        res.on('end', () => resolve(data));
      });
      req.on('error', reject);
      for (let i = 0; i < 64; i++) req.write('y'.repeat(16 * 1024));
      req.end();
    });
    const echoed = JSON.parse(chunked);
    assert.equal(echoed.body.length, 64 * 16 * 1024);
    assert.equal(echoed.headers['transfer-encoding'], 'chunked');
  });

  const malformed: [string, string, number][] = [
    [
      'Content-Length with Transfer-Encoding',
      'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
    ],
    [
      'duplicated Content-Length',
      'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello',
      400,
    ],
    [
      'conflicting Content-Length',
      'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
      400,
    ],
    ['obs-fold', 'GET /echo HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n', 400],
    [
      'Transfer-Encoding not ending in chunked',
      'POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n',
      400,
    ],
    ['oversized headers', `GET /echo HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`, 431],
  ];
  for (const [name, bytes, status] of malformed) {
    it(`rejects ${name} with ${status} and forwards nothing`, async () => {
      const before = stable.received + canary.received;
      const answer = await rawExchange(router.port, bytes);
      assert.match(answer, new RegExp(`^HTTP/1.1 ${status} `));
      assert.match(answer, /kanari: /);
      assert.equal(stable.received + canary.received, before);
    });
  }

  it('counts rejected requests', async () => {
    const { json } = await router.admin('GET', '/stats');
    assert.ok(json.rejected.badRequest >= 5);
    assert.ok(json.rejected.headersTooLarge >= 1);
  });

  it('passes WebSocket upgrades through to the routed version', async () => {
    await router.setTable({
      pools: pools(),
      match: [{ header: { name: 'x-canary', exact: 'always' }, version: 'canary' }],
    });
    const exchange = (headers: Record<string, string>) =>
      new Promise<string>((resolve, reject) => {
        const req = http.request({
          host: '127.0.0.1',
          port: router.port,
          path: '/ws',
          headers: {
            connection: 'Upgrade',
            upgrade: 'websocket',
            'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
            'sec-websocket-version': '13',
            ...headers,
          },
        });
        req.on('upgrade', (res, socket) => {
          assert.equal(res.statusCode, 101);
          assert.equal(res.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
          socket.once('data', (frame: Buffer) => {
            resolve(unmaskFrame(frame));
            socket.destroy();
          });
          socket.write(textFrame('hello', Buffer.from([1, 2, 3, 4])));
        });
        req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
        req.on('error', reject);
        req.end();
      });
    assert.equal(await exchange({}), 'stable:hello');
    assert.equal(await exchange({ 'x-canary': 'always' }), 'canary:hello');
  });
});
