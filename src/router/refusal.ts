import http from 'node:http';
import type { Socket } from 'node:net';
import { LINGER_MS } from '../shared/http.js';
import { rawResponseHead } from './headers.js';

const LINGERING = Symbol('kanari.lingering');

/**
 * Ends a client connection without losing what was written to it. Closing a socket whose
 * client is still sending (a request pipelined behind the last one) makes the kernel reset
 * it, and a client that writes again before reading then fails and never reads the answer
 * (RFC 9112 §9.6). So, like nginx's lingering close, the write side is closed first and
 * what still arrives is read and dropped until the client closes too, or for LINGER_MS at
 * most (the same as the API servers'). Idempotent.
 */
export function lingerClose(socket: Socket): void {
  const s = socket as Socket & { [LINGERING]?: true };
  if (socket.destroyed || s[LINGERING]) return;
  s[LINGERING] = true;
  socket.end();
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once('close', () => clearTimeout(timer));
  // The client is done: close once the answer is flushed (destroy() would drop it if it is not yet).
  const done = () => (socket.writableFinished ? socket.destroy() : socket.once('finish', () => socket.destroy()));
  if (socket.readableEnded) done();
  else socket.once('end', done);
}

/** Whether lingerClose has the connection: what the client sends now is dropped unread. */
export function lingering(socket: Socket): boolean {
  return (socket as Socket & { [LINGERING]?: true })[LINGERING] === true;
}

/**
 * Makes Node end this client connection with lingerClose after an answer that ends it
 * (HTTP/1.0 without keep-alive, Connection: close): Node's own destroySoon closes the
 * socket as soon as the answer is flushed, whatever the client is still sending.
 */
export function lingerAfterLastAnswer(socket: Socket): void {
  socket.destroySoon = () => lingerClose(socket);
}

/**
 * Writes kanari's answer to a request it will not serve — a status and a one-line reason —
 * and closes the connection with lingerClose. When Node has already ended the connection
 * after an answer that closes it, nothing more may be written: it only lingers.
 */
export function closeWithAnswer(socket: Socket, status: number, reason: string): void {
  if (socket.destroyed) return;
  if (socket.writableEnded) return lingerClose(socket);
  const body = `kanari: ${reason}\n`;
  const head = rawResponseHead(status, http.STATUS_CODES[status] ?? 'Error', [
    'Content-Type',
    'text/plain; charset=utf-8',
    'Content-Length',
    String(Buffer.byteLength(body)),
    'X-Kanari-Error',
    reason,
    'Connection',
    'close',
  ]);
  socket.write(head + body);
  lingerClose(socket);
}
