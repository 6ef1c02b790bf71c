import type { IncomingMessage } from 'node:http';

/** Headers that describe one connection, not the message (RFC 9110 §7.6.1); never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);

/** Extra hop-by-hop names a message lists in its own Connection header. */
function connectionTokens(value: string | undefined): Set<string> | undefined {
  if (!value) return undefined;
  let tokens: Set<string> | undefined;
  for (const raw of value.split(',')) {
    const token = raw.trim().toLowerCase();
    if (token && token !== 'close' && token !== 'keep-alive') (tokens ??= new Set()).add(token);
  }
  return tokens;
}

/**
 * The headers kanari sends upstream: the client's, less hop-by-hop ones, with
 * X-Forwarded-For appended to and X-Forwarded-Proto/-Host set. A chunked request body is
 * re-framed as chunked by kanari itself. `upgrade` keeps Connection/Upgrade for WebSockets.
 */
export function upstreamRequestHeaders(req: IncomingMessage, upgrade = false): string[] {
  const raw = req.rawHeaders;
  const listed = connectionTokens(req.headers.connection);
  const out: string[] = [];
  let forwardedFor: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed?.has(lower)) continue;
    if (lower === 'x-forwarded-for') {
      forwardedFor = forwardedFor === undefined ? raw[i + 1] : `${forwardedFor}, ${raw[i + 1]}`;
      continue;
    }
    // kanari answers Expect: 100-continue itself; the forwarded ones are its own to set.
    if (lower === 'expect' || lower === 'x-forwarded-proto' || lower === 'x-forwarded-host') continue;
    out.push(name, raw[i + 1]!);
  }
  const client = req.socket.remoteAddress ?? '';
  out.push('X-Forwarded-For', forwardedFor === undefined ? client : `${forwardedFor}, ${client}`);
  out.push('X-Forwarded-Proto', 'http');
  if (req.headers.host !== undefined) out.push('X-Forwarded-Host', req.headers.host);
  if (req.headers['transfer-encoding'] !== undefined) out.push('Transfer-Encoding', 'chunked');
  if (upgrade) out.push('Connection', 'Upgrade', 'Upgrade', req.headers.upgrade ?? '');
  return out;
}

/** The upstream response's headers (name, value, name, value…) for the client, less hop-by-hop ones. */
export function clientResponseHeaders(raw: readonly string[], upgrade = false): string[] {
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') connection = connection === undefined ? raw[i + 1] : `${connection}, ${raw[i + 1]}`;
  }
  const listed = connectionTokens(connection);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (upgrade && (lower === 'connection' || lower === 'upgrade')) {
      out.push(raw[i]!, raw[i + 1]!);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || listed?.has(lower)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/** A raw HTTP/1.1 response head, for sockets taken over by an upgrade. */
export function rawResponseHead(status: number, message: string, headers: readonly string[]): string {
  let head = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return head + '\r\n';
}

/** The request line and headers kanari sends upstream, ready to write as latin1 in one go. */
export function upstreamRequestHead(req: IncomingMessage, fallbackHost: string): string {
  const headers = upstreamRequestHeaders(req);
  let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  // HTTP/1.0 clients may send no Host; HTTP/1.1 upstreams require one.
  if (req.headers.host === undefined) head += `Host: ${fallbackHost}\r\n`;
  return head + '\r\n';
}
