/**
 * readRequestHead's own refusals, on heads Node's strict parser (insecureHTTPParser: false)
 * already refuses before kanari sees them: two Content-Length fields, a Content-Length that
 * is not digits, Transfer-Encoding with Content-Length, chunked twice. Through a router
 * these answer 400 whether or not kanari checks them, so request-framing.test.ts could not
 * fail with the checks removed (a mutation audit found that); here the head goes to
 * readRequestHead directly, as a parser with lenient flags (or a later llhttp) would let it.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { readRequestHead } from '../../src/router/request-head.js';

/** What readRequestHead reads of a request: its raw lines, version, target and method. */
function head(lines: [string, string][], opts: { method?: string; url?: string; version?: '1.0' | '1.1' } = {}) {
  const version = opts.version ?? '1.1';
  const req = {
    rawHeaders: lines.flat(),
    httpVersion: version,
    httpVersionMajor: 1,
    httpVersionMinor: version === '1.0' ? 0 : 1,
    method: opts.method ?? 'POST',
    url: opts.url ?? '/',
    socket: { remoteAddress: '127.0.0.1' },
  } as unknown as IncomingMessage;
  return readRequestHead(req, 100);
}

const HOST: [string, string] = ['Host', 'a.example'];

describe('readRequestHead refuses what Node refuses first', () => {
  it('accepts a plain Content-Length and a single chunked (the cases below differ by one field)', () => {
    const sized = head([HOST, ['Content-Length', '5']]);
    assert.equal(sized.refused, undefined);
    assert.equal(sized.contentLength, 5);
    const chunked = head([HOST, ['Transfer-Encoding', 'chunked']]);
    assert.equal(chunked.refused, undefined);
    assert.equal(chunked.chunked, true);
  });

  it('refuses two Content-Length fields, even equal ones', () => {
    const r = head([HOST, ['Content-Length', '5'], ['Content-Length', '5']]);
    assert.deepEqual(r, {
      refused: true,
      status: 400,
      reason: '2 Content-Length header fields; exactly one is allowed',
    });
  });

  for (const value of ['+5', '5, 5', '0x5', '', ' 5', '5.0', '0000000000000005'])
    it(`refuses Content-Length ${JSON.stringify(value)}`, () => {
      const r = head([HOST, ['Content-Length', value]]);
      assert.equal(r.refused, true);
      assert.equal(r.status, 400);
      assert.match(r.reason, /^invalid Content-Length /);
    });

  it('refuses Content-Length with Transfer-Encoding, in either order', () => {
    for (const lines of [
      [HOST, ['Content-Length', '0'], ['Transfer-Encoding', 'chunked']],
      [HOST, ['Transfer-Encoding', 'chunked'], ['Content-Length', '0']],
    ] as [string, string][][])
      assert.deepEqual(head(lines), {
        refused: true,
        status: 400,
        reason: 'both Content-Length and Transfer-Encoding',
      });
  });

  it('refuses two Transfer-Encoding fields, even both chunked', () => {
    const r = head([HOST, ['Transfer-Encoding', 'chunked'], ['Transfer-Encoding', 'chunked']]);
    assert.deepEqual(r, {
      refused: true,
      status: 400,
      reason: '2 Transfer-Encoding header fields; exactly one is allowed',
    });
  });
});
