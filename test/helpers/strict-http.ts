/**
 * A strict RFC 9112 message reader, written for the tests so the fuzzers' oracle is not
 * Node's parser (which is what let finding 1 through). Messages are latin1 strings, one
 * character per byte. Each read answers with one message and where it ended, "incomplete"
 * (more bytes could still make it valid), or "invalid" with a reason and a status.
 *
 * Leniencies (each one the RFC allows, and each one harmless because kanari re-serializes):
 * - empty lines (CRLF, or a bare LF as Node accepts) before a request-line are skipped:
 *   RFC 9112 §2.2 "a server ... SHOULD ignore at least one empty line (CRLF) received prior
 *   to the request-line";
 * - request-line elements may be separated by more than one SP: RFC 9112 §3 "recipients MAY
 *   instead parse on whitespace-delimited word boundaries";
 * - a request-target may hold any visible ASCII, not only RFC 3986 characters: kanari passes
 *   the target through byte for byte, so it and the upstream read the same bytes;
 * - a status-line may lack the SP after the status code: RFC 9112 §4 requires the server to
 *   send it, and tells the client to ignore the reason-phrase.
 * Bare LF as a line terminator (RFC 9112 §2.2 "MAY recognize a single LF") is NOT accepted
 * anywhere else: Node 20's llhttp, which the router runs non-lenient, refuses it.
 */
import net from 'node:net';

export interface Field {
  name: string;
  value: string;
}

export interface Head {
  fields: Field[];
  /** Bytes from the start-line to the end of the empty line, leading empty lines excluded. */
  headBytes: number;
}

export interface StrictRequest extends Head {
  method: string;
  target: string;
  version: '1.0' | '1.1';
  /** The target as the upstream must see it: origin-form, or `*`. */
  originForm: string;
  /** The authority of an absolute-form target, which replaces Host. */
  authority?: string;
  framing: 'none' | 'length' | 'chunked';
  body: string;
  trailers: Field[];
}

export interface StrictResponse extends Head {
  version: '1.0' | '1.1';
  status: number;
  reason: string;
  framing: 'none' | 'length' | 'chunked' | 'close';
  body: string;
  trailers: Field[];
  /** Whether the connection may carry another exchange after this one. */
  keepAlive: boolean;
  /** Statuses of 1xx interim responses read before this one. */
  interim: number[];
}

export type Read<T> =
  | { kind: 'message'; message: T; end: number }
  | { kind: 'incomplete' }
  | { kind: 'invalid'; stage: 'head' | 'body'; reason: string; status: number };

export interface RequestLimits {
  /** More field lines than this is a 431 (checked once the head is otherwise valid). */
  maxHeaderLines?: number;
}

export interface ResponseContext {
  method?: string;
  upgradeAsked?: boolean;
  /** The connection has closed: a read-until-close body ends here. */
  closed?: boolean;
  maxHeadBytes?: number;
}

type Invalid = { kind: 'invalid'; stage: 'head' | 'body'; reason: string; status: number };
const INCOMPLETE = { kind: 'incomplete' } as const;
const bad = (reason: string, status = 400, stage: 'head' | 'body' = 'head'): Invalid => ({
  kind: 'invalid',
  stage,
  reason,
  status,
});
/** Whether a step stopped the read (more bytes needed, or never valid). */
const stopped = <T extends object>(r: T | typeof INCOMPLETE | Invalid): r is typeof INCOMPLETE | Invalid => 'kind' in r;

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1), written out from the RFC rather than imported from
 * the router, so that a name the router forgot is a difference the fuzzers can see.
 */
export const HOP_BY_HOP: readonly string[] = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
];

export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** field-value characters: HTAB, SP, VCHAR, obs-text. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const VCHARS = /^[\x21-\x7e]+$/;
const REG_NAME = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/;
const IP_FUTURE = /^v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+$/;
const CHUNK_EXT =
  /^(?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*"))?)*$/;

/** The CRLF-terminated line at `at`; a bare CR or LF before the CRLF makes it invalid. */
function line(s: string, at: number): { text: string; next: number } | typeof INCOMPLETE | Invalid {
  const end = s.indexOf('\r\n', at);
  const stop = end < 0 ? s.length : end;
  for (let i = at; i < stop; i++) {
    const c = s.charCodeAt(i);
    if (c === 10) return bad('bare LF as a line ending');
    if (c === 13 && !(end < 0 && i === s.length - 1)) return bad('bare CR');
  }
  return end < 0 ? INCOMPLETE : { text: s.slice(at, end), next: end + 2 };
}

/** Field lines up to the empty line; `at` is just after the start-line. */
function fieldLines(
  s: string,
  at: number,
  what: string,
): { fields: Field[]; next: number } | typeof INCOMPLETE | Invalid {
  const fields: Field[] = [];
  for (;;) {
    const l = line(s, at);
    if (stopped(l)) return l;
    at = l.next;
    if (l.text === '') return { fields, next: at };
    if (l.text[0] === ' ' || l.text[0] === '\t')
      return bad(fields.length === 0 ? 'whitespace before the first field line' : `obs-fold in ${what}`);
    const colon = l.text.indexOf(':');
    const name = colon < 0 ? '' : l.text.slice(0, colon);
    if (!TOKEN.test(name))
      return bad(
        colon < 0
          ? `${what} line without a colon`
          : /[ \t]$/.test(name)
            ? 'whitespace before a colon'
            : `field name is not a token`,
      );
    const value = l.text.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (!FIELD_VALUE.test(value)) return bad(`control character in the ${name} value`);
    fields.push({ name, value });
  }
}

export function fieldValues(fields: readonly Field[], name: string): string[] {
  const lower = name.toLowerCase();
  return fields.filter((f) => f.name.toLowerCase() === lower).map((f) => f.value);
}

/** The comma-separated elements of every `name` field, trimmed and lower-cased. */
export function listTokens(fields: readonly Field[], name: string): string[] {
  return fieldValues(fields, name)
    .flatMap((v) => v.split(','))
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
}

/** `uri-host [":" port]` (RFC 9110 §7.2, RFC 3986 §3.2.2); an http(s) URI also needs a non-empty host. */
export function validAuthority(text: string, needHost: boolean): boolean {
  let host = text;
  let port = '';
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return false;
    host = text.slice(0, close + 1);
    port = text.slice(close + 1);
    const literal = host.slice(1, -1);
    if (!net.isIPv6(literal) && !IP_FUTURE.test(literal)) return false;
  } else {
    const colon = text.indexOf(':');
    if (colon >= 0) [host, port] = [text.slice(0, colon), text.slice(colon)];
    if (!REG_NAME.test(host)) return false;
  }
  if (port !== '' && !/^:\d*$/.test(port)) return false;
  return !needHost || host !== '';
}

/** Where `target` points, or why it cannot be served (RFC 9112 §3.2). */
function requestTarget(method: string, target: string): { originForm: string; authority?: string } | Invalid {
  if (!VCHARS.test(target)) return bad('control or non-ASCII byte in the request-target');
  if (method === 'CONNECT') return bad('CONNECT (authority-form) is not served', 501);
  if (target === '*') return method === 'OPTIONS' ? { originForm: '*' } : bad('asterisk-form outside OPTIONS');
  if (target.startsWith('/')) return { originForm: target };
  const m = /^([A-Za-z][A-Za-z0-9+\-.]*):(.*)$/.exec(target);
  if (!m) return bad('request-target in no known form');
  if (!/^https?$/i.test(m[1]!)) return bad(`absolute-form with scheme ${m[1]}`);
  if (!m[2]!.startsWith('//')) return bad('absolute-form without an authority');
  const rest = m[2]!.slice(2);
  const cut = rest.search(/[/?#]/);
  const authority = cut < 0 ? rest : rest.slice(0, cut);
  if (authority.includes('@')) return bad('absolute-form with userinfo');
  if (!validAuthority(authority, true)) return bad('absolute-form with an invalid authority');
  const path = cut < 0 ? '' : rest.slice(cut);
  return { originForm: path.startsWith('/') ? path : `/${path}`, authority };
}

/** Reads a chunked body at `at` (RFC 9112 §7.1). */
function chunked(
  s: string,
  at: number,
): { body: string; trailers: Field[]; next: number } | typeof INCOMPLETE | Invalid {
  const parts: string[] = [];
  for (;;) {
    const l = line(s, at);
    if (stopped(l)) return l.kind === 'invalid' ? { ...l, stage: 'body' } : l;
    const m = /^([0-9A-Fa-f]+)(.*)$/.exec(l.text);
    if (!m || !CHUNK_EXT.test(m[2]!))
      return bad(`bad chunk-size line ${JSON.stringify(l.text.slice(0, 40))}`, 400, 'body');
    const digits = m[1]!.replace(/^0+/, '');
    // A size past 2^48 can never arrive in a test; it simply stays incomplete.
    const size = digits.length > 12 ? Infinity : parseInt(digits || '0', 16);
    at = l.next;
    if (size === 0) {
      const trailers = fieldLines(s, at, 'trailer');
      if (stopped(trailers)) return trailers.kind === 'invalid' ? { ...trailers, stage: 'body' } : trailers;
      return { body: parts.join(''), trailers: trailers.fields, next: trailers.next };
    }
    const after = s.slice(at + size, at + size + 2);
    if (s.length < at + size || after === '' || after === '\r') return INCOMPLETE;
    if (after !== '\r\n') return bad('chunk data not followed by CRLF', 400, 'body');
    parts.push(s.slice(at, at + size));
    at += size + 2;
  }
}

/** One request starting at `start` of a connection's bytes. */
export function readRequest(s: string, start = 0, limits: RequestLimits = {}): Read<StrictRequest> {
  let at = start;
  while (s.startsWith('\r\n', at) || s[at] === '\n') at += s[at] === '\n' ? 1 : 2;
  const headStart = at;
  const first = line(s, at);
  if (stopped(first)) return first;
  const m = /^([^ ]*) +([^ ]+) +([^ ]+)$/.exec(first.text);
  if (!m) return bad('malformed request-line');
  const [, method, target, versionText] = m as unknown as [string, string, string, string];
  if (!TOKEN.test(method)) return bad('method is not a token');
  const v = /^HTTP\/(\d)\.(\d)$/.exec(versionText);
  if (!v) return bad('malformed HTTP-version');
  if (versionText !== 'HTTP/1.1' && versionText !== 'HTTP/1.0') return bad(`unsupported ${versionText}`, 505);
  const version = versionText === 'HTTP/1.1' ? '1.1' : '1.0';
  const lines = fieldLines(s, first.next, 'field');
  if (stopped(lines)) return lines;
  const { fields } = lines;
  const headBytes = lines.next - headStart;
  const where = requestTarget(method, target);
  if (stopped(where)) return where;
  const hosts = fieldValues(fields, 'host');
  if (version === '1.1' ? hosts.length !== 1 : hosts.length > 1)
    return bad(hosts.length === 0 ? 'HTTP/1.1 without Host' : 'more than one Host');
  if (hosts.length === 1 && !validAuthority(hosts[0]!, false)) return bad('invalid Host');
  const lengths = fieldValues(fields, 'content-length');
  const codings = fieldValues(fields, 'transfer-encoding');
  if (lengths.length > 1) return bad('more than one Content-Length');
  if (lengths.length === 1 && !/^\d+$/.test(lengths[0]!)) return bad('Content-Length is not 1*DIGIT');
  // RFC 9110 §8.6: a recipient must guard against overflow; refusing a length no body could have is that guard.
  if (lengths.length === 1 && lengths[0]!.replace(/^0+/, '').length > 15)
    return bad('Content-Length too large to be real');
  if (codings.length > 0) {
    if (lengths.length > 0) return bad('Transfer-Encoding with Content-Length');
    if (version === '1.0') return bad('Transfer-Encoding in HTTP/1.0');
    if (codings.length > 1 || codings[0]!.toLowerCase() !== 'chunked')
      return bad('Transfer-Encoding other than chunked', 501);
  }
  const framing = codings.length > 0 ? 'chunked' : lengths.length > 0 ? 'length' : 'none';
  const upgrade = fieldValues(fields, 'upgrade').length > 0 && listTokens(fields, 'connection').includes('upgrade');
  if (upgrade && (framing === 'chunked' || (framing === 'length' && !/^0+$/.test(lengths[0]!))))
    return bad('Upgrade request with a body');
  if (limits.maxHeaderLines !== undefined && fields.length > limits.maxHeaderLines)
    return bad(`more than ${limits.maxHeaderLines} header lines`, 431);
  const head = { method, target, version, fields, headBytes, ...where } as const;
  return body(s, lines.next, framing, lengths[0], (b) => ({ ...head, framing, ...b }));
}

/** A body framed by `framing` at `at`, then `make` builds the message. */
function body<T>(
  s: string,
  at: number,
  framing: 'none' | 'length' | 'chunked' | 'close',
  length: string | undefined,
  make: (b: { body: string; trailers: Field[] }) => T,
  closed = false,
): Read<T> {
  if (framing === 'none') return { kind: 'message', message: make({ body: '', trailers: [] }), end: at };
  if (framing === 'close')
    return closed ? { kind: 'message', message: make({ body: s.slice(at), trailers: [] }), end: s.length } : INCOMPLETE;
  if (framing === 'length') {
    const n = Number(length);
    return s.length - at < n
      ? INCOMPLETE
      : { kind: 'message', message: make({ body: s.slice(at, at + n), trailers: [] }), end: at + n };
  }
  const c = chunked(s, at);
  if (stopped(c)) return c;
  return { kind: 'message', message: make(c), end: c.next };
}

/** One response (after any 1xx interim ones) starting at `start` (RFC 9112 §4, §6). */
export function readResponse(s: string, start = 0, ctx: ResponseContext = {}): Read<StrictResponse> {
  const interim: number[] = [];
  let at = start;
  for (;;) {
    const first = line(s, at);
    // An upstream's bad head becomes a 502; an unfinished one is bad once it passes the limit.
    const headStopped = (r: typeof INCOMPLETE | Invalid) =>
      r.kind === 'invalid'
        ? { ...r, status: 502 }
        : s.length - at > (ctx.maxHeadBytes ?? Infinity)
          ? bad('response head too large', 502)
          : r;
    if (stopped(first)) return headStopped(first);
    const m = /^HTTP\/(\d\.\d) (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?$/.exec(first.text);
    if (!m) return bad(`bad status-line ${JSON.stringify(first.text.slice(0, 40))}`, 502);
    if (m[1] !== '1.1' && m[1] !== '1.0') return bad(`unsupported HTTP/${m[1]}`, 502);
    const version = m[1] === '1.1' ? '1.1' : '1.0';
    const status = Number(m[2]);
    if (status < 100 || status > 599) return bad(`status ${status} outside 100..599`, 502);
    const lines = fieldLines(s, first.next, 'field');
    if (stopped(lines)) return headStopped(lines);
    const headBytes = lines.next - at;
    if (ctx.maxHeadBytes !== undefined && headBytes > ctx.maxHeadBytes) return bad('response head too large', 502);
    if (status === 101 && !ctx.upgradeAsked) return bad('101 to a request that asked for no upgrade', 502);
    if (status < 200 && status !== 101) {
      interim.push(status);
      at = lines.next;
      continue;
    }
    const { fields } = lines;
    const lengths = fieldValues(fields, 'content-length');
    const codings = listTokens(fields, 'transfer-encoding');
    if (lengths.length > 1) return bad('more than one Content-Length', 502);
    if (lengths.length === 1 && !/^\d+$/.test(lengths[0]!)) return bad('Content-Length is not 1*DIGIT', 502);
    const bodyless = ctx.method === 'HEAD' || status === 204 || status === 304 || status === 101;
    if (codings.length > 0 && !bodyless) {
      if (lengths.length > 0) return bad('Transfer-Encoding with Content-Length', 502);
      if (version === '1.0') return bad('Transfer-Encoding in HTTP/1.0', 502);
      if (
        codings.at(-1) !== 'chunked' ||
        codings.indexOf('chunked') !== codings.length - 1 ||
        !codings.every((c) => TOKEN.test(c))
      )
        return bad('Transfer-Encoding not ending in one chunked', 502);
    }
    const framing: StrictResponse['framing'] = bodyless
      ? 'none'
      : codings.length > 0
        ? 'chunked'
        : lengths.length > 0
          ? 'length'
          : 'close';
    const connection = listTokens(fields, 'connection');
    const keepAlive =
      framing !== 'close' &&
      status !== 101 &&
      !connection.includes('close') &&
      (version === '1.1' || connection.includes('keep-alive'));
    const head = { version, status, reason: m[3] ?? '', fields, headBytes, keepAlive, interim } as const;
    const read = body(s, lines.next, framing, lengths[0], (b) => ({ ...head, framing, ...b }), ctx.closed);
    return read.kind === 'invalid' ? { ...read, status: 502 } : read;
  }
}

/** Splits a connection's bytes into the requests it holds, stopping at the first that is not complete and valid. */
export function readRequests(
  s: string,
  limits: RequestLimits = {},
): { requests: StrictRequest[]; ends: number[]; rest?: Invalid | typeof INCOMPLETE } {
  const requests: StrictRequest[] = [];
  const ends: number[] = [];
  let at = 0;
  while (at < s.length) {
    const r = readRequest(s, at, limits);
    if (r.kind !== 'message') return { requests, ends, rest: r };
    requests.push(r.message);
    ends.push(r.end);
    at = r.end;
  }
  return { requests, ends };
}
