import http, { type IncomingMessage } from 'node:http';
import { headersFor, type RequestHead } from './request-head.js';
import type { RouterStats } from './stats.js';
import type { CompiledTable } from './table.js';

/**
 * Sends a copy of `req` to the mirror version and throws the answer away. Only bodies of
 * known size up to `maxBodyBytes` are copied, chunk by chunk as the original streams, so
 * a mirror never holds more than that in memory and never slows the user's request. The
 * copy starts when the original does (the returned function is called then): a request that
 * never reaches its own upstream is not mirrored either.
 */
export function startMirror(
  table: CompiledTable,
  head: RequestHead,
  stats: RouterStats,
  timeoutMs: number,
): ((req: IncomingMessage) => void) | undefined {
  const mirror = table.mirror!;
  if (head.chunked || (head.contentLength ?? 0) > mirror.maxBodyBytes) {
    stats.mirror.skipped++;
    return undefined;
  }
  return (source) => {
    const ep = table.pools[mirror.version].pick(Date.now());
    // A mirror never queues: at the endpoint's connection limit the copy is skipped.
    if (!ep || ep.mirrorsInFlight >= ep.connections.maxConnections) {
      stats.mirror.skipped++;
      return;
    }
    stats.mirror.sent++;
    ep.mirrorsInFlight++;
    const copy = http.request({
      agent: ep.agent,
      host: ep.host,
      port: ep.port,
      method: head.method,
      path: head.target,
      headers: headersFor(head, `${ep.host}:${ep.port}`),
      timeout: timeoutMs,
    });
    copy.on('response', (res) => res.resume());
    copy.on('timeout', () => copy.destroy(new Error('mirror timeout')));
    copy.on('error', () => stats.mirror.failed++);
    copy.on('close', () => ep.mirrorsInFlight--);
    source.on('data', (chunk: Buffer) => copy.write(chunk));
    source.on('end', () => copy.end());
    // A body cut short is not completed on the copy either.
    source.on('close', () => {
      if (!source.complete) copy.destroy();
    });
  };
}
