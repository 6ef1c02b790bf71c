import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestRouter, type TestRouter } from '../helpers/router.js';

/**
 * Backpressure means a slow reader stalls the writer at the other end instead of the
 * router buffering without bound. Each test streams far more than fits in socket
 * buffers (loopback buffers autotune to a few MiB each) and checks the writer stopped.
 */
const BOUND = 48 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');
const FRAMED_CHUNK = Buffer.concat([Buffer.from(`${CHUNK.length.toString(16)}\r\n`), CHUNK, Buffer.from('\r\n')]);

let written = 0;
/** Called when the upstream's /stream response closes. */
let streamClosed: () => void = () => {};
let uploadRead = 0;
let upstream: http.Server;
let router: TestRouter;

before(async () => {
  upstream = http.createServer((req, res) => {
    if (req.url === '/flood') {
      // Writes as fast as the router takes it, until 512 MiB or until asked to stop.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const pump = () => {
        while (written < 512 * 1024 * 1024) {
          written += CHUNK.length;
          if (!res.write(CHUNK)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    } else if (req.url === '/stream') {
      // A response that never ends, a chunk every 50 ms, until the router closes the connection.
      res.writeHead(200, { 'content-type': 'text/plain' });
      const tick = setInterval(() => res.write('tick\n'), 50);
      res.once('close', () => {
        clearInterval(tick);
        streamClosed();
      });
    } else if (req.url === '/sink') {
      // Reads one chunk of the upload and then stops reading.
      req.once('data', (c: Buffer) => {
        uploadRead += c.length;
        req.pause();
      });
    }
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  router = await startTestRouter({
    pools: { stable: [`http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}`] },
  });
});

after(async () => {
  await router.close(100);
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
});

describe('backpressure', () => {
  it("a client that stops reading stalls the upstream's writes", async () => {
    const socket = net.connect(router.port, '127.0.0.1');
    socket.write('GET /flood HTTP/1.1\r\nHost: a\r\n\r\n');
    await new Promise((r) => socket.once('data', r));
    socket.pause();
    // Let every buffer on the way fill up, then see where the upstream stopped.
    await new Promise((r) => setTimeout(r, 1500));
    const stalledAt = written;
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(
      stalledAt < BOUND,
      `upstream wrote ${(stalledAt / 2 ** 20).toFixed(1)} MiB to a client that read nothing`,
    );
    assert.equal(written, stalledAt, 'the upstream is not writing any more');
    socket.destroy();
  });

  it("an upstream that stops reading stalls the client's upload", async () => {
    const socket = net.connect(router.port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('error', () => {});
    await new Promise((r) => socket.once('connect', r));
    socket.write('POST /sink HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n');
    let sent = 0;
    const started = Date.now();
    // Write chunks until the socket says stop, waiting briefly for drains, up to a deadline.
    while (Date.now() - started < 3000 && sent < 512 * 1024 * 1024) {
      const ok = socket.write(FRAMED_CHUNK);
      sent += CHUNK.length;
      if (!ok) {
        const drained = await Promise.race([
          new Promise((r) => socket.once('drain', () => r(true))),
          new Promise((r) => setTimeout(() => r(false), 500)),
        ]);
        if (!drained) break;
      }
    }
    assert.equal(answer, '', 'the router has not answered: the upload is only paused');
    assert.ok(uploadRead > 0, 'the upstream received the start of the upload');
    assert.ok(
      sent < BOUND,
      `the client could push ${(sent / 2 ** 20).toFixed(1)} MiB into a router whose upstream reads nothing`,
    );
    socket.destroy();
  });

  it('a client that leaves mid-response closes its upstream connection, which would otherwise stay held', async () => {
    // Left alone, the upstream connection would stay open (paused, its response going
    // nowhere) until the idle timeout, 60 s here, holding one of the endpoint's connections.
    const upstreamClosed = new Promise<boolean>((r) => {
      streamClosed = () => r(true);
      setTimeout(() => r(false), 15_000).unref();
    });
    const socket = net.connect(router.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write('GET /stream HTTP/1.1\r\nHost: a\r\n\r\n');
    await new Promise((r) => socket.once('data', r));
    socket.destroy();
    assert.ok(await upstreamClosed, 'the upstream connection was still open 15 s after the client left');
  });
});
