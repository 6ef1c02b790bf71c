/**
 * The request fuzzer's oracle: what the strict reader makes of the client's bytes, what
 * the upstream received (found by each request's marker), and the contract between them —
 * a request is refused before any byte of it reaches the upstream, or it arrives as exactly
 * one request that reads the same, and its client gets that request's answer.
 */
import http from 'node:http';
import { MAX_HEADER_BYTES, MAX_HEADER_LINES } from './fuzz-requests.js';
import { reasonGroup as group } from './fuzz-report.js';
import { MARKER, type Arrived, type UpstreamConn } from './fuzz-upstream.js';
import {
  fieldValues,
  HOP_BY_HOP,
  listTokens,
  readRequest,
  readResponse,
  type Field,
  type StrictRequest,
  type StrictResponse,
} from './strict-http.js';

/** Node's llhttp counts the target, names and values against maxHeaderSize; past this margin a head is over by any count. */
const SIZE_MARGIN = 64;
const REFUSALS = [400, 431, 501, 505];
const KANARI_SETS = ['expect', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'];

export interface Expectation {
  /**
   * Requests that must each arrive once; `sizeOptional` ones may instead be refused with 431.
   * `more`: the client sent bytes after it (pipelined).
   */
  accepted: { request: StrictRequest; marker: string; sizeOptional: boolean; more: boolean }[];
  /** The first request refused from its head: none of its bytes may reach the upstream. */
  refused?: { reason: string; status: number; marker: string | undefined; method: string };
  /** A request whose body is malformed or unfinished: it must never arrive complete. */
  broken?: { reason: string; marker: string | undefined; incomplete: boolean; method: string };
  /** Requests after a refusal, a close, an upgrade or a broken body: never to be forwarded as requests. */
  ignored: string[];
  /** What came before the ignored requests. */
  ignoredAfter?: string;
}

const markersFrom = (wire: string, from: number) => [
  ...new Set([...wire.slice(from).matchAll(MARKER)].map((m) => m[0])),
];

/** Whether nothing more may be served on the connection after `r` (RFC 9112 §9.3, §9.6). */
function lastOnConnection(r: StrictRequest): boolean {
  const tokens = listTokens(r.fields, 'connection');
  const upgrade = fieldValues(r.fields, 'upgrade').length > 0 && tokens.includes('upgrade');
  return upgrade || tokens.includes('close') || (r.version === '1.0' && !tokens.includes('keep-alive'));
}

export function expectationOf(wire: string): Expectation {
  const out: Expectation = { accepted: [], ignored: [] };
  let at = 0;
  while (at < wire.length) {
    const r = readRequest(wire, at, { maxHeaderLines: MAX_HEADER_LINES });
    // A request's own marker sits in its head; a refused one may have none (then every later one is another's).
    const headEnd = wire.indexOf('\r\n\r\n', at + /^(?:\r?\n)*/.exec(wire.slice(at))![0].length);
    const own = markersFrom(wire.slice(0, headEnd < 0 ? wire.length : headEnd), at)[0];
    const later = markersFrom(wire, at).filter((m) => m !== own);
    // Its answer is read as an answer to this method (a refused HEAD gets no body).
    const method = /^(?:\r?\n)*([^ \r\n]*)/.exec(wire.slice(at))![1]!;
    if (r.kind === 'message') {
      const m = r.message;
      const counted = m.target.length + m.fields.reduce((n, f) => n + f.name.length + f.value.length, 0);
      if (counted > MAX_HEADER_BYTES + SIZE_MARGIN) {
        out.refused = { reason: 'head over maxHeaderBytes', status: 431, marker: own, method };
        return { ...out, ignored: later, ignoredAfter: 'a refused request' };
      }
      out.accepted.push({
        request: m,
        marker: own ?? '',
        sizeOptional: m.headBytes > MAX_HEADER_BYTES,
        more: r.end < wire.length,
      });
      at = r.end;
      if (lastOnConnection(m))
        return { ...out, ignored: markersFrom(wire, at), ignoredAfter: 'a request that ends the connection' };
    } else {
      if (r.kind === 'invalid' && r.stage === 'head')
        out.refused = { reason: r.reason, status: r.status, marker: own, method };
      else
        out.broken = {
          reason: r.kind === 'invalid' ? r.reason : 'incomplete',
          marker: own,
          incomplete: r.kind === 'incomplete',
          method,
        };
      return { ...out, ignored: later, ignoredAfter: out.refused ? 'a refused request' : 'a broken body' };
    }
  }
  return out;
}

/** What the upstream received, by marker. */
export interface UpstreamIndex {
  arrived: Map<string, { arrival: Arrived; conn: UpstreamConn }[]>;
  /** Occurrences of each marker anywhere in the upstream's bytes. */
  raw: Map<string, number>;
  /** Occurrences inside the heads of the requests they mark. */
  inOwnHead: Map<string, number>;
  /** Markers in the unread rest of a connection the strict reader gave up on, with its reason. */
  unreadable: Map<string, string>;
}

const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

export function indexUpstream(conns: readonly UpstreamConn[]): UpstreamIndex {
  const index: UpstreamIndex = { arrived: new Map(), raw: new Map(), inOwnHead: new Map(), unreadable: new Map() };
  for (const conn of conns) {
    for (const m of conn.data.matchAll(MARKER)) bump(index.raw, m[0]);
    const readTo = conn.requests.at(-1)?.end ?? 0;
    if (conn.invalid)
      for (const m of conn.data.slice(readTo).matchAll(MARKER))
        index.unreadable.set(m[0], conn.invalid.replace(/ at byte \d+$/, ''));
    for (const arrival of conn.requests) {
      if (!arrival.marker) continue;
      index.arrived.set(arrival.marker, [...(index.arrived.get(arrival.marker) ?? []), { arrival, conn }]);
      const head = conn.data.slice(arrival.start, arrival.start + arrival.request.headBytes + 4);
      for (const m of head.matchAll(MARKER)) if (m[0] === arrival.marker) bump(index.inOwnHead, m[0]);
    }
  }
  return index;
}

/** The methods of the requests the client should get answers to, in order. */
export function methodsOf(exp: Expectation): string[] {
  return [...exp.accepted.map((a) => a.request.method), exp.refused?.method ?? exp.broken?.method ?? 'GET'];
}

/** The responses the client read, in order, for requests with these methods. */
export function clientResponses(received: string, methods: readonly string[], closed: boolean): StrictResponse[] {
  const out: StrictResponse[] = [];
  let at = 0;
  while (at < received.length) {
    const r = readResponse(received, at, { method: methods[out.length] ?? 'GET', closed });
    if (r.kind !== 'message') break;
    out.push(r.message);
    at = r.end;
  }
  return out;
}

const lowered = (fields: readonly Field[], dropped: ReadonlySet<string>) =>
  fields.filter((f) => !dropped.has(f.name.toLowerCase())).map((f) => `${f.name.toLowerCase()}: ${f.value}`);

/** How the upstream's copy `u` differs from what the client sent in `c`, per the contract. */
export function differences(c: StrictRequest, u: StrictRequest, clientAddress = '127.0.0.1'): string[] {
  const diffs: string[] = [];
  const listed = listTokens(c.fields, 'connection');
  const sent = lowered(c.fields, new Set([...HOP_BY_HOP, ...listed, ...KANARI_SETS, 'host', 'content-length']));
  const got = lowered(
    u.fields,
    new Set([
      'host',
      'content-length',
      'transfer-encoding',
      'connection',
      'upgrade',
      'x-forwarded-for',
      'x-forwarded-proto',
      'x-forwarded-host',
    ]),
  );
  if (u.method !== c.method) diffs.push('method');
  if (u.target !== c.originForm)
    diffs.push(c.authority ? 'absolute-form target not rewritten to origin-form' : 'target');
  const host = c.authority ?? fieldValues(c.fields, 'host')[0];
  const hosts = fieldValues(u.fields, 'host');
  if (hosts.length !== 1) diffs.push(`${hosts.length} Host fields`);
  else if (host !== undefined && hosts[0] !== host)
    diffs.push(c.authority ? 'Host not taken from the absolute-form target' : 'Host changed');
  const i = sent.findIndex((s, k) => got[k] !== s);
  if (i >= 0 || got.length !== sent.length)
    diffs.push(
      `end-to-end headers (first difference: sent ${JSON.stringify(sent[i] ?? null)}, got ${JSON.stringify(got[i < 0 ? sent.length : i] ?? null)})`,
    );
  const forwardedFor = listed.includes('x-forwarded-for') ? [] : fieldValues(c.fields, 'x-forwarded-for');
  if (fieldValues(u.fields, 'x-forwarded-for').join('|') !== [...forwardedFor, clientAddress].join(', '))
    diffs.push('X-Forwarded-For');
  if (fieldValues(u.fields, 'x-forwarded-proto').join('|') !== 'http') diffs.push('X-Forwarded-Proto');
  const forwardedHost = fieldValues(u.fields, 'x-forwarded-host');
  if (host !== undefined ? forwardedHost.join('|') !== host : forwardedHost.length > 1) diffs.push('X-Forwarded-Host');
  if (u.body !== c.body) diffs.push('body');
  if (c.framing === 'length' && u.framing !== 'length') diffs.push('Content-Length body re-framed');
  return diffs;
}

export interface ClientResult {
  received: string;
  closed: boolean;
  timedOut: boolean;
}

const seen = (r: StrictResponse) => fieldValues(r.fields, 'x-fuzz-seen')[0];

/**
 * Judges one case. Failures are "kind: detail" strings; `stricter` notes requests the
 * router refused although the strict reader accepts them (allowed: nothing was forwarded).
 */
export function judge(
  exp: Expectation,
  client: ClientResult,
  up: UpstreamIndex,
): { failures: string[]; stricter: string[] } {
  const failures: string[] = [];
  const stricter: string[] = [];
  const raw = (m: string | undefined) => (m ? (up.raw.get(m) ?? 0) : 0);
  const responses = clientResponses(client.received, methodsOf(exp), client.closed);
  const silent = client.timedOut ? 'no answer in time' : 'connection closed without an answer';
  let ignored = exp.ignored;
  let ignoredAfter = exp.ignoredAfter ?? 'a refusal';
  /** Where the refusal of the first refused request sits among the responses. */
  let refusalAt = exp.accepted.length;
  /** The router refused an earlier request, so the connection ended before the oracle's refusal. */
  let refusedEarly = false;
  for (const [k, a] of exp.accepted.entries()) {
    const res = responses[k];
    if (res && !seen(res) && REFUSALS.concat(408, 413, 417).includes(res.status)) {
      const arrived = (up.arrived.get(a.marker) ?? []).length > 0;
      if (arrived && a.more) {
        // Node answered a later request's parse error while this one was still with the upstream.
        failures.push("a later pipelined request's refusal replaced the response to this one, which the upstream ran");
        refusalAt = k;
        break;
      }
      if (arrived) failures.push(`refused with ${res.status} after the upstream got it whole`);
      else if (raw(a.marker) > 0)
        stricter.push(`${res.status} part-way through forwarding (nothing complete reached the upstream)`);
      else if (!(a.sizeOptional && res.status === 431)) stricter.push(`${res.status} ${res.reason}`);
      refusedEarly = true;
      ignored = [...ignored, ...exp.accepted.slice(k + 1).map((b) => b.marker)];
      ignoredAfter = 'a request the router refused';
      break;
    }
    const arrivals = up.arrived.get(a.marker) ?? [];
    if (arrivals.length !== 1) {
      const unreadable = up.unreadable.get(a.marker);
      failures.push(
        arrivals.length > 1
          ? `forwarded ${arrivals.length} times`
          : unreadable
            ? `forwarded as an invalid request: ${group(unreadable)}`
            : raw(a.marker) > 0
              ? 'forwarded, but never complete'
              : 'never forwarded',
      );
    } else {
      for (const d of differences(a.request, arrivals[0]!.arrival.request))
        failures.push(`forwarded differently: ${d}`);
      if (raw(a.marker) !== (up.inOwnHead.get(a.marker) ?? 0))
        failures.push(
          'its bytes also reached the upstream elsewhere (a connection left out of step by another request)',
        );
    }
    if (!res) failures.push(`accepted request: ${silent}`);
    else if (seen(res) !== a.marker)
      failures.push(
        seen(res) ? "answered with another request's response" : `accepted request answered ${res.status} by kanari`,
      );
  }
  const after = responses[refusalAt];
  if (exp.refused) {
    const { reason, marker, method } = exp.refused;
    // Node's parser refuses a method it does not know before counting lines: 400 is as good as 431 then.
    const status = exp.refused.status === 431 && !http.METHODS.includes(method) ? 400 : exp.refused.status;
    if (raw(marker) > 0) failures.push(`forwarded though the strict reader refuses it: ${group(reason)}`);
    else if (refusedEarly) {
      // Its refusal is the one the router gave the earlier request.
    } else if (!after)
      failures.push(
        `${client.timedOut ? 'no answer in time' : 'closed without a status'} to a request refused for: ${group(reason)}`,
      );
    else if (!REFUSALS.includes(after.status) || (status === 431 && after.status !== 431))
      failures.push(
        `refused with ${after.status} (want ${status === 431 ? 431 : REFUSALS.join('/')}): ${group(reason)}`,
      );
    else if (!listTokens(after.fields, 'connection').includes('close'))
      failures.push('refusal without Connection: close');
  }
  if (exp.broken && (up.arrived.get(exp.broken.marker ?? '') ?? []).length > 0)
    failures.push(
      `arrived complete though its body is ${exp.broken.incomplete ? 'unfinished' : `malformed: ${group(exp.broken.reason)}`}`,
    );
  // Their bytes may travel inside a body forwarded before them, never as a request.
  const bodies = exp.accepted.map((a) => a.request.body).join('');
  for (const m of ignored) {
    if ((up.arrived.get(m) ?? []).length > 0 || raw(m) > (exp.broken ? Infinity : bodies.split(m).length - 1))
      failures.push(`a request pipelined after ${ignoredAfter} reached the upstream`);
  }
  return { failures: [...new Set(failures)], stricter };
}

/** Waits until the upstream has had no new bytes for a moment, so every case's bytes are in. */
export async function settle(conns: () => readonly UpstreamConn[]): Promise<void> {
  let last = -1;
  for (let i = 0; i < 40; i++) {
    const total = conns().reduce((n, c) => n + c.data.length, 0);
    if (total === last) return;
    last = total;
    await new Promise((r) => setTimeout(r, 100));
  }
}
