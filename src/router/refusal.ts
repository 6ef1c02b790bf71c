import http from 'node:http';
import type { Socket } from 'node:net';
import { LINGER_MS } from '../shared/http.js';
import { rawResponseHead } from './headers.js';

/**
 * Writes kanari's answer to a request it will not serve — a status and a one-line reason —
 * and closes the connection. Closing a socket whose client is still sending makes the kernel
 * reset it, and a reset can destroy the answer before the client reads it; so, like nginx's
 * lingering close, the write side is closed first and what still arrives is read and dropped
 * until the client closes too, or for LINGER_MS at most (the same as the API servers').
 */
export function closeWithAnswer(socket: Socket, status: number, reason: string): void {
  if (socket.destroyed || socket.writableEnded) return void socket.destroy();
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
  socket.end(head + body);
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  // The client is done: close once the answer is flushed (destroy() would drop it if it is not yet).
  socket.once('end', () => socket.destroySoon());
  socket.once('close', () => clearTimeout(timer));
}
