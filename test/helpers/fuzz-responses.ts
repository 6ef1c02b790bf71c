/**
 * The hostile upstream's cases and their oracle. A case is a response (well-formed or
 * mutated), how the upstream sends it (split into delayed writes, closing or not, early
 * or not) and the request the client makes; the oracle says what the client may see.
 */
import { Rng } from './fuzz-random.js';
import { reasonGroup } from './fuzz-report.js';
import { fieldValues, HOP_BY_HOP, listTokens, readResponse, type StrictResponse } from './strict-http.js';

/** The router's limit on an upstream response head; cases stay well clear of its edge. */
export const MAX_RESPONSE_HEAD = 64 * 1024;

export interface ResponseCase {
  index: number;
  method: 'GET' | 'HEAD' | 'POST';
  /** Answer once the request head is in, while the client still holds back half its body. */
  early: boolean;
  /** What the upstream writes, in pieces, with a pause of `gapMs` between them. */
  pieces: string[];
  gapMs: number;
  /** The upstream closes the connection after its last piece. */
  close: boolean;
  mutations: string[];
}

interface Draft {
  statusLine: string;
  fields: string[];
  body: string;
  /** Bytes after the body (a second response, garbage). */
  trailing: string;
  before: string;
}

function chunk(rng: Rng, data: string, quirk?: string): string {
  let out = '';
  let n = 0;
  for (let at = 0; at < data.length; n++) {
    const size = Math.min(data.length - at, rng.int(1, 4096));
    let line = size.toString(16);
    if (quirk === 'bad-size' && n === rng.int(0, 1)) line = rng.pick(['zz', '-1', '1 1', ' 5', '0x5', '']);
    if (quirk === 'ext') line += rng.pick([';a=b', ';a="x y"', ' ;a']);
    out += `${line}\r\n${data.slice(at, at + size)}${quirk === 'no-crlf' && n === 0 ? 'X' : '\r\n'}`;
    at += size;
  }
  const trailers = quirk === 'trailers' ? rng.pick(['X-T: 1\r\n', 'X T: 1\r\n', 'X-T: 1\r\n folded\r\n']) : '';
  return quirk === 'no-last' ? out : `${out}0\r\n${trailers}\r\n`;
}

function base(rng: Rng, mark: string): Draft {
  const status = rng.pick([200, 200, 200, 201, 204, 206, 304, 404, 500]);
  const size = rng.pick([0, 1, 10, 100, 1000, 5000, 20 * 1024, 64 * 1024]);
  const body = status === 204 || status === 304 ? '' : rng.chance(0.5) ? rng.text(size) : rng.bytes(size);
  const fields = [`X-Fuzz-Seen: ${mark}`, 'Content-Type: application/octet-stream'];
  if (rng.chance(0.3)) fields.push('Set-Cookie: a=1; Path=/', 'Set-Cookie: b=2');
  if (rng.chance(0.3)) fields.push('Connection: keep-alive, x-drop', 'X-Drop: 1', 'Keep-Alive: timeout=5');
  if (rng.chance(0.2)) fields.push(`X-Long: ${'v'.repeat(rng.int(100, 4000))}`);
  const framing = rng.pick(['length', 'length', 'chunked', 'close']);
  const draft: Draft = {
    statusLine: `HTTP/1.1 ${status} ${rng.pick(['OK', 'Whatever', '', 'caf\xe9'])}`,
    fields,
    body,
    trailing: '',
    before: '',
  };
  if (framing === 'length') fields.push(`Content-Length: ${body.length}`);
  if (framing === 'chunked') {
    fields.push('Transfer-Encoding: chunked');
    draft.body = chunk(rng, body);
  }
  return draft;
}

const MUTATIONS: ((rng: Rng, d: Draft) => string | undefined)[] = [
  (rng, d) =>
    (d.statusLine = rng.pick([
      'HTTP/1.1 2000 OK',
      'HTTP/1.1 20 OK',
      'HTTP/2 200 OK',
      'HTTP/1.1 200OK',
      'http/1.1 200 OK',
      'HTTP/1.1 600 X',
      'HTTP/1.1 099 X',
      'HTTP/1.1 200 a\x01b',
      'HTTP/1.1 200',
      'HTTP/1.2 200 OK',
      'HTTP/1.1  200 OK',
    ])),
  (rng, d) => (
    d.fields.push(rng.pick(['Content-Length: 3', 'Transfer-Encoding: chunked'])),
    'both Content-Length and Transfer-Encoding'
  ),
  (rng, d) => (
    d.fields.push(`Content-Length: ${rng.pick(['+5', '5 5', '-1', '0x10', '', '5,5', '99999999999999999999'])}`),
    'bad or second Content-Length'
  ),
  (rng, d) => {
    const te = rng.pick([
      'gzip',
      'chunked, gzip',
      'identity',
      'gzip, chunked',
      'chunked\r\nTransfer-Encoding: chunked',
    ]);
    d.fields = d.fields.filter((f) => !/^(content-length|transfer-encoding):/i.test(f));
    d.fields.push(`Transfer-Encoding: ${te}`);
    if (rng.chance(0.7)) d.body = chunk(rng, d.body);
    return `Transfer-Encoding ${JSON.stringify(te)}`;
  },
  (rng, d) => {
    const quirk = rng.pick(['bad-size', 'ext', 'no-crlf', 'trailers', 'no-last']);
    d.fields = d.fields.filter((f) => !/^(content-length|transfer-encoding):/i.test(f));
    d.fields.push('Transfer-Encoding: chunked');
    d.body = chunk(rng, d.body || rng.text(300), quirk);
    return `chunks ${quirk}`;
  },
  (rng, d) => {
    const line = rng.pick([
      ' folded',
      'No-Colon',
      'X-A : 1',
      'X-A: a\x00b',
      'X-A: a\rb',
      'X-A: a\x01b',
      'X-A: caf\xe9',
      'X-A\xe9: 1',
      ': empty',
    ]);
    d.fields.splice(rng.int(0, d.fields.length), 0, line);
    return `header line ${JSON.stringify(line)}`;
  },
  (rng, d) => {
    d.fields = d.fields.map((f) => f + rng.pick(['', '\n']).repeat(rng.chance(0.3) ? 1 : 0));
    return 'bare LF';
  },
  (rng, d) => {
    const size = rng.pick([40 * 1024, 70 * 1024, 100 * 1024]);
    d.fields.push(`X-Pad: ${'p'.repeat(size)}`);
    return `head of ${size / 1024} KiB`;
  },
  (rng, d) => (
    (d.statusLine = 'HTTP/1.1 101 Switching Protocols'),
    d.fields.push('Upgrade: websocket', 'Connection: Upgrade'),
    '101 nobody asked for'
  ),
  (rng, d) => (
    (d.before = rng.pick([
      'HTTP/1.1 100 Continue\r\n\r\n',
      'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n',
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n',
    ])),
    '1xx first'
  ),
  (rng, d) => (d.fields.push('Connection: close'), 'Connection: close'),
  (rng, d) => ((d.statusLine = d.statusLine.replace('HTTP/1.1', 'HTTP/1.0')), 'HTTP/1.0'),
  (rng, d) => (
    (d.trailing = rng.pick(['X', '\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'])),
    'bytes after the response'
  ),
  (rng, d) => ((d.body = d.body.slice(0, Math.max(0, d.body.length - rng.int(1, 20)))), 'body cut short'),
];

/** Case `index`: every `cleanEvery`th is a plain 200, sent whole. */
export function responseCase(seed: number, index: number, mark: string, cleanEvery = 25): ResponseCase {
  const rng = Rng.forCase(seed, index);
  const d = base(rng, mark);
  const mutations: string[] = [];
  const clean = index % cleanEvery === cleanEvery - 1;
  for (let i = clean ? 0 : rng.int(1, 2); i > 0; i--) {
    const pick = rng.int(0, MUTATIONS.length - 1);
    mutations.push(MUTATIONS[pick]!(rng, d) ?? `mutation ${pick}`);
  }
  const wire = `${d.before}${d.statusLine}\r\n${d.fields.map((f) => `${f}\r\n`).join('')}\r\n${d.body}${d.trailing}`;
  const untilClose = !/^(content-length|transfer-encoding):/im.test(d.fields.join('\n'));
  const early = !clean && rng.chance(0.08);
  if (early) mutations.push('answered before the request was complete');
  const method = early ? 'POST' : rng.chance(0.1) ? 'HEAD' : 'GET';
  const read = readResponse(wire, 0, { method, maxHeadBytes: MAX_RESPONSE_HEAD });
  // Bytes after the response go out with its last byte: arriving later, the router could not
  // have known of them before reuse. Where the response ends depends on the method (a
  // response to HEAD ends with its head), so the cuts stay before that end.
  const end = read.kind === 'message' ? read.end : wire.length - d.trailing.length;
  const cuts = clean || rng.chance(0.3) ? [] : rng.cuts(end, rng.int(2, 6));
  const pieces = [...cuts, wire.length].map((c, i, all) => wire.slice(i === 0 ? 0 : all[i - 1], c));
  // A response its framing leaves unfinished is a hostile one only if the upstream then closes; else it is merely slow.
  const unfinished = read.kind === 'incomplete';
  return {
    index,
    method,
    early,
    pieces,
    gapMs: rng.int(0, 3),
    close: untilClose || unfinished || rng.chance(0.1),
    mutations,
  };
}

/** What the client may see for a case: the exact response, or (when it is bad) a 502 or an abort. */
export function expectedResponse(c: ResponseCase): { response?: StrictResponse; invalid?: string; doubtful?: string } {
  const wire = c.pieces.join('');
  const r = readResponse(wire, 0, { method: c.method, closed: c.close, maxHeadBytes: MAX_RESPONSE_HEAD });
  if (r.kind === 'invalid') return { invalid: r.reason, doubtful: `a bad response (${r.reason})` };
  if (r.kind === 'incomplete') return { invalid: 'closed mid-response', doubtful: 'closed mid-response' };
  const doubtful = c.early
    ? 'answered before the request was complete'
    : r.end < wire.length
      ? 'bytes after the response'
      : !r.message.keepAlive
        ? 'a response that ends the connection'
        : undefined;
  return { response: r.message, ...(doubtful ? { doubtful } : {}) };
}

/** End-to-end fields as the client should see them: hop-by-hop, framing and Date set aside. */
export function endToEnd(r: StrictResponse, keepDate: boolean): string[] {
  const listed = listTokens(r.fields, 'connection');
  const drop = new Set([...HOP_BY_HOP, ...listed, 'content-length', ...(keepDate ? [] : ['date'])]);
  return r.fields.filter((f) => !drop.has(f.name.toLowerCase())).map((f) => `${f.name.toLowerCase()}: ${f.value}`);
}

/** Judges what the client got against the case; returns failures, or a note when the router was stricter. */
export function judgeResponse(
  c: ResponseCase,
  received: string,
  closed: boolean,
  timedOut: boolean,
): { failures: string[]; note?: string } {
  const exp = expectedResponse(c);
  const what = exp.invalid ? `a bad response (${reasonGroup(exp.invalid)})` : 'a good response';
  const got = readResponse(received, 0, { method: c.method, closed: false });
  const complete = got.kind === 'message' ? got.message : undefined;
  const fromKanari = complete && fieldValues(complete.fields, 'x-fuzz-seen').length === 0;
  if (got.kind === 'invalid') return { failures: [`${what} was relayed to the client as it came`] };
  if (!complete) {
    if (timedOut) return { failures: [`${what}: the client was left waiting${received ? ' mid-response' : ''}`] };
    if (exp.invalid) return { failures: received ? [] : [`${what} became an empty reply, not a 502`] };
    return { failures: [received ? 'a good response was cut off' : 'a good response became an empty reply'] };
  }
  // The upstream answers at once: a timeout from kanari means it never read that answer.
  if (fromKanari && complete.status === 504)
    return { failures: ['kanari answered 504 though the upstream answered at once'] };
  if (!exp.response)
    return {
      failures: fromKanari && complete.status === 502 ? [] : [`${what} reached the client as a complete response`],
    };
  if (fromKanari && complete.status === 502)
    return { failures: [], note: `502 for a good response (${c.mutations.join('; ') || 'clean'})` };
  const failures: string[] = [];
  if (complete.status !== exp.response.status) failures.push('a good response: status changed');
  const want = endToEnd(exp.response, true);
  if (
    endToEnd(
      complete,
      want.some((f) => f.startsWith('date:')),
    ).join('\n') !== want.join('\n')
  )
    failures.push('a good response: end-to-end headers changed');
  if (complete.body !== exp.response.body) failures.push('a good response: body changed');
  return { failures };
}
