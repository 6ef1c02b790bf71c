import http, { type IncomingMessage } from 'node:http';
import type { RouterStats } from './stats.js';
import { upstreamRequestHeaders } from './headers.js';
import type { CompiledTable } from './table.js';

/**
 * Sends a copy of `req` to the mirror version and throws the answer away. Only bodies of
 * known size up to `maxBodyBytes` are copied, chunk by chunk as the original streams, so
 * a mirror never holds more than that in memory and never slows the user's request.
 */
export function startMirror(table: CompiledTable, req: IncomingMessage, stats: RouterStats, timeoutMs: number): ((req: IncomingMessage) => void) | undefined {
  const mirror = table.mirror!;
  const length = Number(req.headers['content-length'] ?? 0);
  if (req.headers['transfer-encoding'] !== undefined || !(length <= mirror.maxBodyBytes)) {
    stats.mirror.skipped++;
    return undefined;
  }
  const ep = table.pools[mirror.version].pick(Date.now());
  if (!ep) {
    stats.mirror.skipped++;
    return undefined;
  }
  stats.mirror.sent++;
  const copy = http.request({ agent: ep.agent, host: ep.host, port: ep.port, method: req.method, path: req.url, headers: upstreamRequestHeaders(req), timeout: timeoutMs });
  copy.on('response', (res) => res.resume());
  copy.on('timeout', () => copy.destroy(new Error('mirror timeout')));
  copy.on('error', () => stats.mirror.failed++);
  // Called when the original body starts flowing upstream; the copy follows its chunks.
  return (source) => {
    source.on('data', (chunk: Buffer) => copy.write(chunk));
    source.on('end', () => copy.end());
    source.on('error', () => copy.destroy());
  };
}
