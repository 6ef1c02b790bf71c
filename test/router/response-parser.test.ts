import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError, ResponseParser, type ResponseHead } from '../../src/router/response-parser.js';

interface Parsed {
  head?: ResponseHead;
  body: string;
  ended: boolean;
  extra?: string;
}

/** Feeds `wire` in pieces of `step` bytes (1 = byte by byte) and records what came out. */
function parse(wire: string, opts: { step?: number; noBody?: boolean; close?: boolean } = {}): Parsed {
  const out: Parsed = { body: '', ended: false };
  const parser = new ResponseParser({
    head: (h) => (out.head = h),
    data: (c) => (out.body += c.toString('latin1')),
    end: () => (out.ended = true),
  });
  parser.reset(opts.noBody ?? false);
  const bytes = Buffer.from(wire, 'latin1');
  const step = opts.step ?? bytes.length;
  for (let i = 0; i < bytes.length; i += step) {
    const extra = parser.feed(bytes.subarray(i, i + step));
    if (extra?.length) out.extra = (out.extra ?? '') + extra.toString('latin1');
  }
  if (opts.close) parser.closed();
  return out;
}

describe('upstream response parser', () => {
  const chunked =
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-X: t\r\n\r\n';
  for (const step of [1, 3, 1000]) {
    it(`decodes a chunked body with extensions and trailers, fed ${step} byte(s) at a time`, () => {
      const r = parse(chunked, { step });
      assert.equal(r.head?.status, 200);
      assert.deepEqual(r.head?.raw, ['Transfer-Encoding', 'chunked', 'X-A', '1']);
      assert.equal(r.body, 'hello world');
      assert.ok(r.ended);
      assert.equal(r.extra, undefined);
    });
  }

  it('reads exactly Content-Length bytes and hands back what follows', () => {
    const r = parse('HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabcEXTRA');
    assert.equal(r.head?.reason, 'Created');
    assert.equal(r.body, 'abc');
    assert.ok(r.ended);
    assert.equal(r.extra, 'EXTRA');
  });

  it('skips 1xx informational responses', () => {
    const r = parse(
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
      { step: 2 },
    );
    assert.equal(r.head?.status, 200);
    assert.equal(r.body, 'ok');
  });

  it('reads no body for HEAD, 204 and 304 whatever the headers say', () => {
    assert.equal(parse('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', { noBody: true }).ended, true);
    assert.equal(parse('HTTP/1.1 204 No Content\r\n\r\n').ended, true);
    assert.equal(parse('HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n').ended, true);
  });

  it('reads until close when there is no framing, and never reuses such a connection', () => {
    const r = parse('HTTP/1.1 200 OK\r\n\r\nall of it', { close: true });
    assert.equal(r.body, 'all of it');
    assert.ok(r.ended);
    assert.equal(r.head?.keepAlive, false);
  });

  it('never keeps a connection whose 204 announced a body it must not have', () => {
    assert.equal(parse('HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n').head?.keepAlive, false);
    assert.equal(parse('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n').head?.keepAlive, false);
    assert.equal(
      parse('HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n').head?.keepAlive,
      true,
      'a 304 may give the length of what it stands for',
    );
    assert.equal(
      parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', { noBody: true }).head?.keepAlive,
      true,
      'nor may HEAD',
    );
  });

  it('honours Connection: close and HTTP/1.0 keep-alive rules', () => {
    assert.equal(
      parse('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\nContent-Length: 0\r\n\r\n').head
        ?.keepAlive,
      false,
      'close wins',
    );
    assert.equal(parse('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n').head?.keepAlive, false);
    assert.equal(parse('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').head?.keepAlive, false);
    assert.equal(parse('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n').head?.keepAlive, true);
  });

  const malformed: [string, string, RegExp][] = [
    [
      'Content-Length with Transfer-Encoding',
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
      /both Content-Length and Transfer-Encoding/,
    ],
    [
      'duplicate Content-Length',
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc',
      /duplicate Content-Length/,
    ],
    ['list Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc', /bad Content-Length/],
    ['negative Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /bad Content-Length/],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n', /obs-folded/],
    ['space before colon', 'HTTP/1.1 200 OK\r\nX-A : a\r\n\r\n', /bad header line/],
    [
      'Transfer-Encoding not ending in chunked',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
      /other than chunked/,
    ],
    [
      'a coding before chunked',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
      /other than chunked/,
    ],
    [
      '101 to a request that asked for no upgrade',
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n',
      /101 Switching Protocols/,
    ],
    ['a status outside 100–599', 'HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n', /bad status line/],
    [
      'a control character in a value',
      'HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n',
      /bad header value/,
    ],
    ['a bare LF ending a value', 'HTTP/1.1 200 OK\r\nX-A: 1\n\r\nContent-Length: 0\r\n\r\n', /bad header value/],
    ['Transfer-Encoding in HTTP/1.0', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /HTTP\/1\.0/],
    [
      'an obs-folded trailer',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n folded\r\n\r\n',
      /obs-folded/,
    ],
    [
      'a trailer that is not a field',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX T: 1\r\n\r\n',
      /bad header line/,
    ],
    [
      'chunk data followed by a bare LF',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\n',
      /not followed by CRLF/,
    ],
    ['a bare LF in a chunk size line', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\n', /line ending/],
    ['bad status line', 'HTTP/2 200 OK\r\n\r\n', /bad status line/],
    ['bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /bad chunk size/],
    ['chunk without CRLF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXX', /not followed by CRLF/],
  ];
  for (const [name, wire, error] of malformed) {
    it(`rejects ${name}`, () =>
      assert.throws(
        () => parse(wire),
        (err: unknown) => err instanceof ProtocolError && error.test(err.message),
      ));
  }

  it('rejects a connection closed mid-body, an oversized head and a chunk size line that never ends', () => {
    assert.throws(
      () => parse('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', { close: true }),
      /closed mid-response/,
    );
    assert.throws(() => parse(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70 * 1024)}`), /head too large/);
    // Whole in one read, or in two reads of which neither is over the limit alone.
    const whole = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\nContent-Length: 0\r\n\r\n`;
    assert.throws(() => parse(whole), /head too large/);
    assert.throws(() => parse(whole, { step: 40 * 1024 }), /head too large/);
    const trailers = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n${'T: x\r\n'.repeat(15_000)}\r\n`;
    assert.throws(() => parse(trailers, { step: 1000 }), /trailers too large/);
    // A chunk size line that never ends would be held whole, however long it grew.
    const endless = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${'0'.repeat(2000)}`;
    assert.throws(() => parse(endless), /chunk size line too long/);
    assert.throws(() => parse(endless, { step: 100 }), /chunk size line too long/);
  });
});
