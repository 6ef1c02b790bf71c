import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { rawExchange, startUpstream } from '../helpers/http.js';
import { startRawUpstream, type RawUpstream } from '../helpers/raw-upstream.js';
import { startTestRouter, type TestRouter } from '../helpers/router.js';

interface Outcome {
  status: number;
  body: Buffer;
  /** The response ended as its framing said; false when the connection was cut short. */
  complete: boolean;
}

/** One GET on its own connection (as curl does); status 0 when no response came at all. */
function get(port: number, path: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), complete: res.complete }),
      );
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), complete: false }));
    });
    req.on('error', () => resolve({ status: 0, body: Buffer.alloc(0), complete: false }));
  });
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Upstream replies by path: each test asks for the misbehaviour it is about. */
function reply(head: string, socket: net.Socket): string | void {
  const path = head.split(' ')[1]!;
  const sized = /^\/size\/(\d+)$/.exec(path);
  if (sized) return `HTTP/1.1 200 OK\r\nContent-Length: ${sized[1]}\r\n\r\n${'x'.repeat(Number(sized[1]))}`;
  switch (path) {
    case '/101':
      return 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
    case '/big-head-two-reads': {
      const half = `X-Big: ${'h'.repeat(40 * 1024)}\r\n`;
      socket.write(`HTTP/1.1 200 OK\r\n${half}`);
      setTimeout(() => socket.write(`X-Big-2: ${'h'.repeat(40 * 1024)}\r\nContent-Length: 2\r\n\r\nok`), 50);
      return;
    }
    case '/bad-first-chunk':
      return 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n';
    case '/reset-until-close':
      // No framing: the body runs until the connection closes; a reset is not that close.
      socket.write('HTTP/1.1 200 OK\r\n\r\npart');
      setTimeout(() => socket.resetAndDestroy(), 100);
      return;
    case '/then-stray':
      // Answered, then, with no request out, a second response nobody asked for.
      setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale'), 100);
      return 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    case '/bad-later-chunk':
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      setTimeout(() => socket.write('zz\r\nworld\r\n0\r\n\r\n'), 200);
      return;
    default:
      return 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
  }
}

let upstream: RawUpstream;
let router: TestRouter;

before(async () => {
  upstream = await startRawUpstream(reply);
  router = await startTestRouter({ pools: { stable: [upstream.url] } }, { timeouts: { upstreamHeaders: '2s' } });
});
after(async () => {
  await router.close(100);
  await upstream.close();
});

describe('pooled upstream connections (finding 2)', () => {
  for (const size of [20 * 1024, 64 * 1024, 1024 * 1024]) {
    it(`serves eight ${size / 1024} KiB responses in a row, each on a new client connection`, async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const r = await get(router.port, `/size/${size}`);
        statuses.push(r.status);
        assert.equal(r.body.length, r.status === 200 ? size : r.body.length);
      }
      assert.deepEqual(statuses, Array(8).fill(200));
    });
  }
});

describe('upstream responses checked as strictly as requests (finding 9)', () => {
  it('answers 502 to a 101 for a request that asked for no upgrade', async () => {
    assert.equal((await get(router.port, '/101')).status, 502);
  });

  it('answers 502 to a response head over the limit that arrives in two reads', async () => {
    assert.equal((await get(router.port, '/big-head-two-reads')).status, 502);
  });

  it('answers 502 to a bad chunk size found before any byte reached the client', async () => {
    assert.equal((await get(router.port, '/bad-first-chunk')).status, 502);
  });

  it('aborts the client connection on a bad chunk size found after bytes reached it, never ending it as complete', async () => {
    const r = await get(router.port, '/bad-later-chunk');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'hello');
    assert.equal(r.complete, false);
  });

  it('cuts the client off when a read-until-close body ends in a reset, not in a close', async () => {
    const r = await get(router.port, '/reset-until-close');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'part');
    assert.equal(r.complete, false);
  });

  it('never reuses an upstream connection after a response it doubted', async () => {
    const opened = upstream.connections.length;
    await get(router.port, '/bad-first-chunk');
    const after = await get(router.port, '/ok');
    assert.equal(after.status, 200);
    const used = upstream.connections.slice(opened);
    for (const conn of used) {
      const heads = conn.bytes.toString('latin1').match(/^GET /gm) ?? [];
      if (heads.length > 1 && conn.bytes.includes('/bad-first-chunk'))
        assert.fail(
          `a request followed /bad-first-chunk on its connection: ${conn.bytes.toString('latin1').slice(0, 300)}`,
        );
    }
    await pause(10);
  });
});

describe('an upstream talking out of turn', () => {
  it('loses its connection: bytes sent when no request is out close it, and it is never reused', async () => {
    assert.equal((await get(router.port, '/then-stray')).status, 200);
    // A pooled connection or a new one.
    const conn = upstream.connections.find((c) => c.bytes.includes('/then-stray'))!;
    // The stray answer goes out 100 ms after the first; the router closes the connection on it.
    // Still pooled after 2 s, the connection would carry the next request.
    for (let waited = 0; !conn.closed && waited < 2000; waited += 50) await pause(50);
    const next = await get(router.port, '/ok');
    assert.deepEqual({ status: next.status, body: next.body.toString() }, { status: 200, body: 'ok' });
    // The connection may have carried earlier tests' requests; none may follow this one.
    const after = conn.bytes.toString('latin1').split('/then-stray')[1]!;
    assert.doesNotMatch(after, /^GET /m, `a request followed the stray answer: ${after}`);
    assert.ok(conn.closed, 'the connection that talked out of turn was closed');
  });
});

describe('mirroring (found in review)', () => {
  it('opens no copy for a request that never reached its own upstream', async () => {
    const copies = await startRawUpstream();
    const dead = await startRawUpstream();
    const deadUrl = dead.url;
    await dead.close();
    const mirrored = await startTestRouter({
      pools: { stable: [deadUrl], canary: [copies.url] },
      mirror: { version: 'canary', percent: 100 },
    });
    try {
      for (let i = 0; i < 5; i++) assert.ok([502, 503].includes((await get(mirrored.port, '/nowhere')).status));
      await pause(300);
      assert.deepEqual(
        copies.connections.filter((c) => !c.closed).map((c) => c.bytes.toString('latin1')),
        [],
        'copies left open at the mirror',
      );
      const { json } = await mirrored.admin('GET', '/stats');
      assert.equal(json.mirror.sent, 0);
    } finally {
      await mirrored.close(100);
      await copies.close();
    }
  });
  it('copies no body larger than maxBodyBytes and no chunked one, and cuts a copy whose body broke off', async () => {
    // Node's server, which reads chunked bodies (the raw upstream frames by Content-Length only).
    const stable = await startUpstream('stable');
    const copies = await startRawUpstream();
    const mirrored = await startTestRouter({
      pools: { stable: [stable.url], canary: [copies.url] },
      mirror: { version: 'canary', percent: 100, maxBodyBytes: 10 },
    });
    const stats = async () => (await mirrored.admin('GET', '/stats')).json.mirror as { sent: number; skipped: number };
    try {
      // Over the limit, or of unknown size: skipped, so a copy never holds more than maxBodyBytes.
      const big = await rawExchange(
        mirrored.port,
        `POST /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 11\r\n\r\n${'b'.repeat(11)}`,
      );
      assert.match(big, /^HTTP\/1\.1 200 /);
      const chunked = await rawExchange(
        mirrored.port,
        'POST /chunked HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nc\r\n0\r\n\r\n',
      );
      assert.match(chunked, /^HTTP\/1\.1 200 /);
      const skipped = await stats();
      assert.deepEqual([skipped.sent, skipped.skipped], [0, 2], 'copies sent and skipped');
      // Within the limit, copied as it streams; the client leaves mid-body, and the copy is cut too.
      const client = net.connect(mirrored.port, '127.0.0.1');
      client.on('error', () => {});
      await new Promise((r) => client.once('connect', r));
      client.write('POST /cut HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhalf');
      const copy = () => copies.connections.find((c) => c.bytes.includes('/cut'));
      for (let i = 0; i < 200 && !copy()?.bytes.includes('half'); i++) await pause(20);
      assert.ok(copy()?.bytes.includes('half'), 'the copy had started');
      client.destroy();
      // Left open, the copy would wait for the rest until the mirror's timeout (60 s here).
      for (let i = 0; i < 250 && !copy()!.closed; i++) await pause(20);
      assert.ok(copy()!.closed, 'the copy of a broken-off body was still open after 5 s');
      assert.equal(copy()!.heads.length, 0, 'no whole copy reached the mirror');
    } finally {
      await mirrored.close(100);
      await Promise.all([stable.close(), copies.close()]);
    }
  });
});
