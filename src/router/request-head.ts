import type { IncomingMessage } from 'node:http';
import { connectionTokens, HOP_BY_HOP } from './headers.js';

/**
 * A request kanari will not forward: answered with `status` and `reason` before a single
 * byte reaches an upstream, and its connection closed (its framing cannot be trusted).
 */
export interface Refusal {
  readonly refused: true;
  readonly status: 400 | 431 | 501 | 505;
  readonly reason: string;
}

/**
 * What kanari routes on and forwards, read once from the request's raw header lines — the
 * whole list, not Node's `req.headers`, which keeps only the first 1,000 lines and the first
 * of some duplicated fields while `rawHeaders` has them all. Every decision (framing, Host,
 * the sticky key, match rules) and the forwarded head come from this one list.
 */
export interface RequestHead {
  readonly refused?: undefined;
  readonly method: string;
  /** Origin-form (or `*` for OPTIONS): an absolute-form target is rewritten to its path and query. */
  readonly target: string;
  /** The authority: the absolute-form target's, else the Host field's (absent only for HTTP/1.0). */
  readonly host: string | undefined;
  /** The field lines to forward, Host first: hop-by-hop ones removed, X-Forwarded-* set by kanari. */
  readonly headers: string[];
  /** A positive Content-Length or a chunked body follows the head. */
  readonly hasBody: boolean;
  readonly chunked: boolean;
  readonly contentLength: number | undefined;
  /** Every forwarded line named `name` (lower case) as one value (RFC 9110 §5.3); cookies join with "; ". */
  value(name: string): string | undefined;
}

/** RFC 3986 host (IP-literal, or reg-name, which covers IPv4) with an optional port. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?$/;
/** Visible ASCII without "#": a request target never carries a fragment (RFC 9112 §3.2). */
const ORIGIN_FORM = /^\/[\x21\x22\x24-\x7e]*$/;
const ABSOLUTE_FORM = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([/?][\x21\x22\x24-\x7e]*)?$/;
const CONTENT_LENGTH = /^[0-9]{1,15}$/;

const refuse = (status: Refusal['status'], reason: string): Refusal => ({ refused: true, status, reason });

/**
 * Validates the request head and builds the list kanari forwards. Refuses what could be read
 * two ways (RFC 9112 §§3.2, 6.1, 6.3): more than `maxHeaderLines` lines, duplicate or invalid
 * Host or Content-Length, any Transfer-Encoding but a single `chunked`, both framings, a bad
 * target; for an upgrade, any body (its bytes would travel outside the tunnel's framing).
 */
export function readRequestHead(req: IncomingMessage, maxHeaderLines: number, upgrade = false): RequestHead | Refusal {
  const raw = req.rawHeaders;
  const lines = raw.length >> 1;
  if (lines > maxHeaderLines) return refuse(431, `more than ${maxHeaderLines} header lines (got ${lines})`);
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor > 1)
    return refuse(505, `HTTP/${req.httpVersion} is not supported`);
  const http10 = req.httpVersionMinor === 0;

  let host: string | undefined;
  let hosts = 0;
  let length: string | undefined;
  let lengths = 0;
  let coding: string | undefined;
  let codings = 0;
  let connection: string | undefined;
  let upgradeTo: string | undefined;
  let forwardedFor: string | undefined;
  // Host goes first; its slot is filled once the authority is known.
  const out: string[] = ['Host', ''];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    switch (lower) {
      case 'host':
        hosts++;
        host = value;
        continue;
      case 'content-length':
        lengths++;
        length = value;
        break;
      case 'transfer-encoding':
        codings++;
        coding = value;
        continue;
      case 'connection':
        connection = connection === undefined ? value : `${connection}, ${value}`;
        continue;
      case 'upgrade':
        upgradeTo = upgradeTo === undefined ? value : `${upgradeTo}, ${value}`;
        continue;
      case 'x-forwarded-for':
        forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
        continue;
      // kanari answers Expect: 100-continue itself; the forwarded ones are its own to set.
      case 'expect':
      case 'x-forwarded-proto':
      case 'x-forwarded-host':
        continue;
    }
    if (HOP_BY_HOP.has(lower)) continue;
    out.push(name, value);
  }

  if (hosts > 1) return refuse(400, `${hosts} Host header fields; exactly one is allowed`);
  if (hosts === 0 && !http10) return refuse(400, 'an HTTP/1.1 request must carry a Host header field');
  if (host !== undefined && !HOST.test(host)) return refuse(400, `invalid Host ${JSON.stringify(host.slice(0, 100))}`);

  let target = req.url ?? '';
  if (!ORIGIN_FORM.test(target)) {
    const absolute = ABSOLUTE_FORM.exec(target);
    if (absolute) {
      const scheme = absolute[1]!.toLowerCase();
      if (scheme !== 'http' && scheme !== 'https')
        return refuse(400, `request target with scheme ${JSON.stringify(scheme)}; only http and https are served`);
      const authority = absolute[2]!;
      // RFC 9110 §4.2.4: userinfo in an http(s) URI is to be treated as an error.
      if (authority === '' || authority.includes('@') || !HOST.test(authority))
        return refuse(400, `invalid authority in request target ${JSON.stringify(authority.slice(0, 100))}`);
      // RFC 9112 §3.2.2: the target's authority replaces Host.
      host = authority;
      target = absolute[3] === undefined ? '/' : absolute[3].startsWith('?') ? `/${absolute[3]}` : absolute[3];
    } else if (!(target === '*' && req.method === 'OPTIONS')) {
      return refuse(400, `invalid request target ${JSON.stringify(target.slice(0, 100))}`);
    }
  }

  let contentLength: number | undefined;
  if (lengths > 0) {
    if (lengths > 1) return refuse(400, `${lengths} Content-Length header fields; exactly one is allowed`);
    if (!CONTENT_LENGTH.test(length!))
      return refuse(400, `invalid Content-Length ${JSON.stringify(length!.slice(0, 40))}`);
    contentLength = Number(length);
  }
  const chunked = codings > 0;
  if (chunked) {
    if (http10) return refuse(400, 'Transfer-Encoding in an HTTP/1.0 request');
    if (codings > 1) return refuse(400, `${codings} Transfer-Encoding header fields; exactly one is allowed`);
    if (contentLength !== undefined) return refuse(400, 'both Content-Length and Transfer-Encoding');
    if (coding!.toLowerCase() !== 'chunked') {
      // §6.3: chunked not last means the length cannot be known; a coding before it is one kanari does not decode.
      return /(?:^|,)[ \t]*chunked[ \t]*$/i.test(coding!)
        ? refuse(501, `Transfer-Encoding ${JSON.stringify(coding!.slice(0, 40))} is not supported; send chunked alone`)
        : refuse(400, `Transfer-Encoding ${JSON.stringify(coding!.slice(0, 40))} does not end in chunked`);
    }
  }
  const hasBody = chunked || (contentLength !== undefined && contentLength > 0);
  // Whether or not Node treats it as one (it does not for every method), a request asking to
  // switch protocols may not carry a body: its bytes would straddle the two protocols.
  const listed = connectionTokens(connection);
  if (hasBody && (upgrade || (upgradeTo !== undefined && listed?.has('upgrade'))))
    return refuse(400, 'an Upgrade request must not carry a body');

  // Names the client lists in Connection are its hop's own, but never Host or the framing:
  // dropping Content-Length while forwarding the body is how a request gets smuggled.
  // Named in Connection, the client's X-Forwarded-For is its hop's own: kanari's starts afresh.
  if (listed?.has('x-forwarded-for')) forwardedFor = undefined;
  const headers = listed
    ? out.filter(
        (_, i, all) =>
          i < 2 || !listed.has(all[i - (i & 1)]!.toLowerCase()) || /^content-length$/i.test(all[i - (i & 1)]!),
      )
    : out;
  if (host === undefined) headers.splice(0, 2);
  else headers[1] = host;
  const client = req.socket.remoteAddress ?? '';
  headers.push(
    'X-Forwarded-For',
    forwardedFor === undefined ? client : `${forwardedFor}, ${client}`,
    'X-Forwarded-Proto',
    'http',
  );
  if (host !== undefined) headers.push('X-Forwarded-Host', host);
  if (chunked) headers.push('Transfer-Encoding', 'chunked');
  if (upgrade) headers.push('Connection', 'Upgrade', 'Upgrade', upgradeTo ?? '');
  return {
    method: req.method!,
    target,
    host,
    headers,
    hasBody,
    chunked,
    contentLength,
    value: (name) => valueOf(headers, name),
  };
}

function valueOf(headers: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!;
    if (n.length !== name.length || n.toLowerCase() !== name) continue;
    value = value === undefined ? headers[i + 1]! : `${value}${name === 'cookie' ? '; ' : ', '}${headers[i + 1]!}`;
  }
  return value;
}

/** The forwarded field lines, with `fallbackHost` first when the client (HTTP/1.0) sent no Host: HTTP/1.1 upstreams require one. */
export function headersFor(head: RequestHead, fallbackHost: string): string[] {
  return head.host === undefined ? ['Host', fallbackHost, ...head.headers] : head.headers;
}

/** The request line and field lines kanari sends upstream, ready to write as latin1 in one go. */
export function requestHeadText(head: RequestHead, fallbackHost: string): string {
  let text = `${head.method} ${head.target} HTTP/1.1\r\n`;
  const h = headersFor(head, fallbackHost);
  for (let i = 0; i < h.length; i += 2) text += `${h[i]}: ${h[i + 1]}\r\n`;
  return text + '\r\n';
}
