import http from 'node:http';
import type { Socket } from 'node:net';
import { clientResponseHeaders, rawResponseHead } from './headers.js';
import type { Endpoint } from './pool.js';
import { headersFor, type RequestHead } from './request-head.js';

/** Methods Node's client sends without a body unless one is written. */
const BODYLESS_BY_DEFAULT = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

export interface TunnelEvents {
  /** The upstream answered (101 or a refusal it sends itself), with that status. */
  answered(status: number): void;
  /** The upstream could not be reached or broke off before answering. */
  failed(): void;
}

/**
 * Passes an Upgrade request (WebSocket and the like) to `ep` on a connection of its own and,
 * on 101, joins the two sockets; anything else the upstream answers is relayed and closed.
 * The request has no body (readRequestHead refuses one), so the bytes after the head belong
 * to the new protocol and go through only once the upstream has switched.
 */
export function openTunnel(
  head: RequestHead,
  socket: Socket,
  early: Buffer,
  ep: Endpoint,
  connectTimeoutMs: number,
  on: TunnelEvents,
): void {
  // Node's client frames a request of any other method as chunked unless told its length;
  // this one has no body (readRequestHead refuses one), and says so.
  const forwarded = headersFor(head, `${ep.host}:${ep.port}`);
  const headers =
    BODYLESS_BY_DEFAULT.has(head.method) || head.contentLength !== undefined
      ? forwarded
      : [...forwarded, 'Content-Length', '0'];
  const up = http.request({
    host: ep.host,
    port: ep.port,
    method: head.method,
    path: head.target,
    headers,
    agent: false,
    timeout: connectTimeoutMs,
  });
  up.on('timeout', () => up.destroy(new Error('timeout')));
  up.on('upgrade', (upRes, upSocket, upHead) => {
    on.answered(upRes.statusCode ?? 101);
    upSocket.setTimeout(0);
    socket.write(
      rawResponseHead(
        upRes.statusCode ?? 101,
        upRes.statusMessage ?? 'Switching Protocols',
        clientResponseHeaders(upRes.rawHeaders, true),
      ),
    );
    if (upHead.length > 0) socket.write(upHead);
    if (early.length > 0) upSocket.write(early);
    // Each side's end is passed on by pipe(); once either side is gone, both go.
    upSocket.pipe(socket).pipe(upSocket);
    const close = () => {
      upSocket.destroy();
      socket.destroy();
    };
    upSocket.on('error', close);
    socket.on('error', close);
    upSocket.on('close', close);
    socket.on('close', close);
  });
  up.on('response', (upRes) => {
    // The upstream declined the upgrade: relay its answer and close.
    on.answered(upRes.statusCode ?? 502);
    socket.write(
      rawResponseHead(upRes.statusCode ?? 502, upRes.statusMessage ?? '', [
        ...clientResponseHeaders(upRes.rawHeaders),
        'Connection',
        'close',
      ]),
    );
    upRes.pipe(socket);
  });
  up.on('error', () => on.failed());
  socket.on('error', () => up.destroy());
  up.end();
}
