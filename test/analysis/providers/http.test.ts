import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { httpRequest } from '../../../src/analysis/providers/http.js';
import { readCapped } from '../../../src/shared/capped-body.js';

/**
 * A metrics endpoint is named by whoever writes a template (on Kubernetes, anyone who may
 * edit an AnalysisTemplate), so its answer is hostile input: an endless body must end as
 * an error, not as the controller's whole heap.
 */
describe('one HTTP exchange for a provider', () => {
  let server: http.Server;
  let base = '';
  let endlessStopped = false;
  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/endless') {
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const pump = () => {
          while (res.write(chunk));
        };
        res.on('drain', pump);
        res.on('close', () => (endlessStopped = true));
        return pump();
      }
      if (req.url === '/multibyte') return void res.writeHead(200).end('é'.repeat(10));
      res.writeHead(200).end('{"ok":true}');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  it('reads an answer within its size', async () => {
    const res = await httpRequest(`${base}/small`, { method: 'GET', headers: {}, timeoutMs: 5000 });
    assert.deepEqual(res, { kind: 'ok', status: 200, text: '{"ok":true}' });
  });

  it('ends an endless answer at its size limit, as an error that says so, and closes the connection', async () => {
    const before = process.memoryUsage().rss;
    const res = await httpRequest(`${base}/endless`, {
      method: 'GET',
      headers: {},
      timeoutMs: 30_000,
      maxBytes: 1 << 20,
    });
    assert.equal(res.kind, 'error');
    assert.match((res as { message: string }).message, /answer is larger than 1 MiB/);
    assert.ok(!('unreachable' in res), 'the endpoint answered: it is not unreachable');
    assert.ok(process.memoryUsage().rss - before < 256 << 20, 'memory stays bounded');
    for (let i = 0; i < 100 && !endlessStopped; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(endlessStopped, 'the connection was closed, not left streaming');
  });

  it('keeps multibyte characters whole across chunks', async () => {
    const text = await readCapped(
      new ReadableStream({
        start(c) {
          const bytes = Buffer.from('aé€b');
          for (const b of bytes) c.enqueue(new Uint8Array([b]));
          c.close();
        },
      }),
      100,
    );
    assert.equal(text, 'aé€b');
  });

  it('a limit counts bytes, not characters', async () => {
    const res = await httpRequest(`${base}/multibyte`, { method: 'GET', headers: {}, timeoutMs: 5000, maxBytes: 15 });
    assert.equal(res.kind, 'error', '10 two-byte characters are 20 bytes');
  });
});
