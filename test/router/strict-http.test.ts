import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readRequest, readRequests, readResponse, validAuthority } from '../helpers/strict-http.js';

/** The fuzzers' oracle: each row is a request and what RFC 9112 makes of it. */
const H = 'Host: a.example\r\n';
const requests: [string, string, 'message' | 'incomplete' | number][] = [
  ['a plain GET', `GET /x?y=1 HTTP/1.1\r\n${H}\r\n`, 'message'],
  ['HTTP/1.0 without Host', 'GET / HTTP/1.0\r\n\r\n', 'message'],
  ['leading empty lines (§2.2)', `\r\n\nGET / HTTP/1.1\r\n${H}\r\n`, 'message'],
  ['two SP between elements (§3)', `GET  / HTTP/1.1\r\n${H}\r\n`, 'message'],
  ['OPTIONS *', `OPTIONS * HTTP/1.1\r\n${H}\r\n`, 'message'],
  ['an unknown method that is a token', `FOO / HTTP/1.1\r\n${H}\r\n`, 'message'],
  ['obs-text in a value', `GET / HTTP/1.1\r\n${H}X: caf\xe9\r\n\r\n`, 'message'],
  ['an empty Host', 'GET / HTTP/1.1\r\nHost:\r\n\r\n', 'message'],
  ['a head that stops mid-line', `GET / HTTP/1.1\r\n${H}X: 1\r`, 'incomplete'],
  ['a body shorter than Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nabc`, 'incomplete'],
  [
    'a chunk with no last-chunk yet',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n`,
    'incomplete',
  ],
  ['bare LF line endings', 'GET / HTTP/1.1\nHost: a\n\n', 400],
  ['a bare CR in a value', `GET / HTTP/1.1\r\n${H}X: a\rb\r\n\r\n`, 400],
  ['NUL in a value', `GET / HTTP/1.1\r\n${H}X: a\x00b\r\n\r\n`, 400],
  ['DEL in a value', `GET / HTTP/1.1\r\n${H}X: a\x7fb\r\n\r\n`, 400],
  ['obs-fold', `GET / HTTP/1.1\r\n${H}X: a\r\n b\r\n\r\n`, 400],
  ['whitespace before the colon', `GET / HTTP/1.1\r\nHost : a\r\n\r\n`, 400],
  ['a method that is not a token', `G(T / HTTP/1.1\r\n${H}\r\n`, 400],
  ['HTTP/0.9 request-line', 'GET /\r\n\r\n', 400],
  ['lower-case version', `GET / http/1.1\r\n${H}\r\n`, 400],
  ['HTTP/2.0', `GET / HTTP/2.0\r\n${H}\r\n`, 505],
  ['a NUL in the target', `GET /a\x00 HTTP/1.1\r\n${H}\r\n`, 400],
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\n\r\n', 400],
  ['two Hosts', `GET / HTTP/1.1\r\n${H}${H}\r\n`, 400],
  ['a Host with a space', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 400],
  ['a Host with a path', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', 400],
  ['a Host with a bad port', 'GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n', 400],
  ['two Content-Lengths', `POST / HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 1\r\n\r\na`, 400],
  ['Content-Length +1', `POST / HTTP/1.1\r\n${H}Content-Length: +1\r\n\r\na`, 400],
  ['Transfer-Encoding: xchunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n`, 501],
  ['Transfer-Encoding: gzip, chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, 501],
  [
    'two Transfer-Encodings',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    501,
  ],
  [
    'Transfer-Encoding with Content-Length',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n`,
    400,
  ],
  ['Transfer-Encoding in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ['CONNECT', 'CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n', 501],
  ['asterisk-form with GET', `GET * HTTP/1.1\r\n${H}\r\n`, 400],
  ['absolute-form with ftp', `GET ftp://a.example/ HTTP/1.1\r\n${H}\r\n`, 400],
  ['absolute-form with userinfo', `GET http://u@a.example/ HTTP/1.1\r\n${H}\r\n`, 400],
  ['absolute-form with an empty host', `GET http:///x HTTP/1.1\r\n${H}\r\n`, 400],
  [
    'an Upgrade with a body',
    `POST / HTTP/1.1\r\n${H}Connection: upgrade\r\nUpgrade: websocket\r\nContent-Length: 1\r\n\r\na`,
    400,
  ],
  ['a bad chunk size', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nx\r\n\r\n`, 400],
  [
    'chunk data not followed by CRLF',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n`,
    400,
  ],
  ['an obs-folded trailer', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n 2\r\n\r\n`, 400],
];

const headers = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: ${i}\r\n`).join('');

describe('strict RFC 9112 request reader', () => {
  for (const [name, wire, want] of requests) {
    it(`${name}: ${typeof want === 'number' ? `refused with ${want}` : want}`, () => {
      const r = readRequest(wire, 0, { maxHeaderLines: 100 });
      if (typeof want === 'number') {
        assert.equal(r.kind, 'invalid', JSON.stringify(r));
        assert.equal(r.kind === 'invalid' && r.status, want, JSON.stringify(r));
      } else assert.equal(r.kind, want, JSON.stringify(r));
    });
  }

  it('counts header lines against the limit only once the head is otherwise valid', () => {
    const at = (n: number, extra = '') =>
      readRequest(`GET / HTTP/1.1\r\n${H}${headers(n - 1)}${extra}\r\n`, 0, { maxHeaderLines: 100 });
    assert.equal(at(100).kind, 'message');
    assert.deepEqual(at(101), { kind: 'invalid', stage: 'head', reason: 'more than 100 header lines', status: 431 });
    assert.equal((at(101, 'Bad Name: 1\r\n') as { status: number }).status, 400);
  });

  it('reads the body, trailers and origin-form a request carries', () => {
    const wire = `POST http://b.example:8080?q HTTP/1.1\r\n${H}Transfer-Encoding: Chunked\r\n\r\n03;a="b c" ; d\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nNEXT`;
    const r = readRequest(wire);
    assert.equal(r.kind, 'message');
    if (r.kind !== 'message') return;
    assert.equal(r.message.body, 'abc0123456789');
    assert.deepEqual(r.message.trailers, [{ name: 'X-T', value: '1' }]);
    assert.equal(r.message.originForm, '/?q');
    assert.equal(r.message.authority, 'b.example:8080');
    assert.equal(r.end, wire.indexOf('NEXT'));
  });

  it('splits a pipelined stream and stops at the first request that is not valid', () => {
    const one = `POST /1 HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc`;
    const { requests: got, rest } = readRequests(`${one}GET /2 HTTP/1.1\r\n${H}\r\nGET /3 HTTP/1.1\r\n\r\n`);
    assert.deepEqual(
      got.map((r) => r.target),
      ['/1', '/2'],
    );
    assert.equal(rest?.kind === 'invalid' && rest.reason, 'HTTP/1.1 without Host');
  });

  it('accepts the authorities RFC 3986 allows in Host and no others', () => {
    for (const ok of [
      'a.example',
      'a.example:80',
      '127.0.0.1:1',
      '[::1]:8080',
      '[v1.x]',
      'a%20b',
      "a!$&'()*+,;=b",
      'a:',
    ])
      assert.ok(validAuthority(ok, true), ok);
    for (const no of ['a b', 'a/b', 'a@b', '[::1', '[zz]', 'a:b', 'a:1:2', '"a"', ':80'])
      assert.ok(!validAuthority(no, true), no);
  });
});

describe('strict RFC 9112 response reader', () => {
  it('skips 1xx interim responses and reads the final one', () => {
    const r = readResponse(
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    );
    assert.ok(r.kind === 'message');
    assert.deepEqual(
      [r.message.interim, r.message.status, r.message.body, r.message.keepAlive],
      [[100, 103], 200, 'ok', true],
    );
  });

  it('reads until close only once the connection closed, and never keeps it', () => {
    const wire = 'HTTP/1.1 200 OK\r\n\r\nabc';
    assert.equal(readResponse(wire).kind, 'incomplete');
    const r = readResponse(wire, 0, { closed: true });
    assert.ok(r.kind === 'message');
    assert.deepEqual([r.message.body, r.message.framing, r.message.keepAlive], ['abc', 'close', false]);
  });

  it('reads no body for HEAD, 204 and 304', () => {
    for (const [wire, method] of [
      ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', 'HEAD'],
      ['HTTP/1.1 204 No Content\r\n\r\n', 'GET'],
      ['HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n', 'GET'],
    ] as const) {
      const r = readResponse(wire, 0, { method });
      assert.ok(r.kind === 'message' && r.end === wire.length, wire);
    }
  });

  it('keeps a connection only when the response allows it', () => {
    const keep = (wire: string) => {
      const r = readResponse(wire);
      return r.kind === 'message' && r.message.keepAlive;
    };
    assert.equal(keep('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), true);
    assert.equal(keep('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'), false);
    assert.equal(keep('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n'), false);
    assert.equal(keep('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n'), true);
  });

  const invalid: [string, string, { upgradeAsked?: boolean; maxHeadBytes?: number }?][] = [
    ['a bad status-line', 'HTTP/1.1 2000 OK\r\n\r\n'],
    ['a status past 599', 'HTTP/1.1 600 X\r\nContent-Length: 0\r\n\r\n'],
    [
      'Content-Length with Transfer-Encoding',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    ['two Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na'],
    ['a Transfer-Encoding not ending in chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n'],
    [
      'chunked applied twice',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n'],
    ['a 101 nobody asked for', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n'],
    ['a head over the limit, still unfinished', `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(100)}`, { maxHeadBytes: 64 }],
    [
      'a head over the limit',
      `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(100)}\r\nContent-Length: 0\r\n\r\n`,
      { maxHeadBytes: 64 },
    ],
  ];
  for (const [name, wire, ctx] of invalid) {
    it(`refuses ${name} with 502`, () => {
      const r = readResponse(wire, 0, ctx);
      assert.equal(r.kind === 'invalid' && r.status, 502, JSON.stringify(r));
    });
  }

  it('takes a 101 when an upgrade was asked for', () => {
    assert.equal(
      readResponse('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n', 0, { upgradeAsked: true }).kind,
      'message',
    );
  });
});
