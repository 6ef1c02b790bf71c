import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { LINGER_MS } from '../../src/shared/http.js';
import { startUpstream, type TestUpstream } from '../helpers/http.js';
import { startTestRouter, type TestRouter } from '../helpers/router.js';

/**
 * A request after which the connection ends (HTTP/1.0 without keep-alive, Connection: close)
 * may have more bytes behind it: a pipelined request, sent before the client has read the
 * answer. Closing on them makes the kernel reset the connection, and a client still writing
 * then fails on its next write and may never read the answer already sent (RFC 9112 §9.6,
 * the fuzzer's seed 1801547361 case 1437 on a busy machine). The router half-closes and
 * reads what still comes until the client closes, as nginx's lingering close does.
 */
let upstream: TestUpstream;
let router: TestRouter;

before(async () => {
  upstream = await startUpstream('stable');
  router = await startTestRouter({ pools: { stable: [upstream.url] } });
});
after(async () => {
  await router.close(100);
  await upstream.close();
});

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  /** All the client read, once it read. */
  received: string;
  /** The first error the client's socket reported (a reset, or a write after one). */
  error?: string;
}

/**
 * Writes `first`, then, without reading anything, `later` one piece at a time, well after the
 * router has answered and closed; only then reads. `onread` makes pause() stop reading from
 * the kernel, so the answer waits in the client's receive buffer as it would in a busy client.
 */
async function slowReader(first: string, later: string[]): Promise<Outcome> {
  const out: Outcome = { received: '' };
  const chunks: Buffer[] = [];
  const socket = net.connect({
    port: router.port,
    host: '127.0.0.1',
    onread: {
      buffer: Buffer.alloc(64 * 1024),
      // true: go on reading (pause() alone decides when the client stops).
      callback: (n, buf) => chunks.push(Buffer.from(buf.subarray(0, n))) > 0,
    },
  });
  socket.on('error', (err: Error & { code?: string }) => (out.error ??= err.code ?? err.message));
  const closed = new Promise((r) => socket.once('close', r));
  await new Promise((r) => socket.once('connect', r));
  socket.pause();
  socket.write(first);
  for (const piece of later) {
    // Long enough for the upstream's answer and the router's close, even on a busy machine.
    await pause(300);
    if (!socket.destroyed) socket.write(piece);
  }
  await pause(100);
  socket.resume();
  // The client has sent all it will: it closes its side, as a client reading to the end does.
  socket.once('end', () => socket.end());
  // A router that never closes fails the test below on what was read, not by hanging it.
  const giveUp = setTimeout(() => socket.destroy(), 10_000);
  await closed;
  clearTimeout(giveUp);
  out.received = Buffer.concat(chunks).toString('latin1');
  return out;
}

const second = 'GET /second HTTP/1.1\r\nHost: a\r\n\r\n';
const halves = [second.slice(0, 10), second.slice(10)];

describe('an answer that ends the connection', () => {
  it('reaches a client that pipelined another request behind an HTTP/1.0 one and reads late', async () => {
    const got = await slowReader('GET /first HTTP/1.0\r\nHost: a\r\n\r\n', halves);
    assert.match(got.received, /^HTTP\/1\.1 200 /, `the client read ${JSON.stringify(got.received)}`);
    assert.match(got.received, /Connection: close/i);
    assert.equal(got.error, undefined, 'the connection was reset');
  });

  it('reaches a client that pipelined another request behind Connection: close and reads late', async () => {
    const got = await slowReader('GET /first HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', halves);
    assert.match(got.received, /^HTTP\/1\.1 200 /, `the client read ${JSON.stringify(got.received)}`);
    assert.equal(got.error, undefined, 'the connection was reset');
  });

  it('is still the only answer: the request pipelined behind it is not forwarded', async () => {
    const before = upstream.received;
    const got = await slowReader(`GET /first HTTP/1.0\r\nHost: a\r\n\r\n${second}`, []);
    assert.equal((got.received.match(/^HTTP\/1\.1 /gm) ?? []).length, 1, got.received);
    assert.match(got.received, /^HTTP\/1\.1 200 /);
    assert.equal(upstream.received - before, 1);
    assert.equal(upstream.last?.url, '/first');
  });
});

describe('a client that goes on sending after a refusal', () => {
  it('is cut off after a few more requests instead of lingering for LINGER_MS', async () => {
    // Each request read after a refusal costs Node a request and a response that is never
    // ended. Lingering, the router would read and build them for LINGER_MS; past a few, it
    // drops the connection. The client here never closes its side and keeps sending, so only
    // that cut ends the connection early: a write after it is answered with a reset.
    const socket = net.connect({ port: router.port, host: '127.0.0.1', allowHalfOpen: true });
    let received = '';
    socket.on('data', (c: Buffer) => (received += c.toString('latin1')));
    socket.on('error', () => {});
    const closed = new Promise((r) => socket.once('close', r));
    await new Promise((r) => socket.once('connect', r));
    const started = Date.now();
    socket.write(`GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n${second.repeat(20)}`);
    const more = setInterval(() => !socket.destroyed && socket.write(second), 100);
    const giveUp = setTimeout(() => socket.destroy(), LINGER_MS + 5000);
    await closed;
    const took = Date.now() - started;
    clearInterval(more);
    clearTimeout(giveUp);
    assert.match(received, /^HTTP\/1\.1 400 /, received);
    assert.equal((received.match(/^HTTP\/1\.1 /gm) ?? []).length, 1, 'only the refusal was answered');
    // Cut off at once; lingering would last LINGER_MS (5 s). Half of it is the margin.
    assert.ok(took < LINGER_MS / 2, `the connection lasted ${took} ms`);
  });
});
