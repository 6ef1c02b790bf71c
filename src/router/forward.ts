import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServiceSpec } from '../config/schemas/router.js';
import type { Version } from '../config/schemas/table.js';
import { clientResponseHeaders } from './headers.js';
import type { Endpoint } from './pool.js';
import { requestHeadText, type RequestHead } from './request-head.js';
import type { RouterStats } from './stats.js';
import type { UpstreamError } from '../shared/stats-snapshot.js';
import type { CompiledTable } from './table.js';
import type { UpstreamConnection } from './upstream.js';

const EMPTY = Buffer.alloc(0);

/** Attempts are numbered from 0; one numbered this is never retried. */
const LAST_ATTEMPT = 2;

export interface ForwardContext {
  readonly spec: ServiceSpec;
  readonly stats: RouterStats;
}

/**
 * Sends the request (`head`, then `req`'s body) to `version` and streams the answer to `res`. A failure before any byte
 * reached an upstream (refused, reset or timed out while connecting) is retried once on
 * another endpoint of the same pool, then on stable; one after that only for a GET or HEAD
 * without a body. `onServed` learns which version finally served the request;
 * `onBody` is called once, when the request body starts flowing upstream. Returns a function
 * that abandons the request (its body broke): the upstream connection closes before it is whole.
 */
export function forward(
  ctx: ForwardContext,
  table: CompiledTable,
  head: RequestHead,
  req: IncomingMessage,
  res: ServerResponse,
  first: Version,
  extraHeaders: readonly string[],
  onServed: (v: Version) => void,
  onBody?: (req: IncomingMessage) => void,
): () => void {
  const { timeouts, passive } = ctx.spec;
  const withBody = head.hasBody;
  const replayable = (head.method === 'GET' || head.method === 'HEAD') && !withBody;
  const tried = new Set<Endpoint>();
  let bodyStarted = false;
  let clientGone = false;
  let current: UpstreamConnection | undefined;
  const abandon = () => {
    clientGone = true;
    current?.abort();
  };
  res.once('close', () => {
    if (!res.writableFinished) abandon();
  });
  res.on('drain', () => current?.resume());

  const failed = (version: Version, ep: Endpoint, kind: UpstreamError, n: number) => {
    if (clientGone) return;
    ctx.stats.upstreamError(version, kind);
    if (kind === 'connect' || kind === 'connectTimeout')
      ep.connectFailed(Date.now(), passive.failures, passive.ejectFor);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (n < LAST_ATTEMPT && (!bodyStarted || replayable)) {
      const next =
        n === 0 && table.pools[version].pick(Date.now(), tried) ? version : version === 'stable' ? undefined : 'stable';
      if (next) {
        ctx.stats.retries++;
        return attempt(next, n + 1);
      }
    }
    const timedOut = kind === 'headersTimeout' || kind === 'connectTimeout' || kind === 'idleTimeout';
    sendError(res, kind === 'overflow' ? 503 : timedOut ? 504 : 502, `upstream ${version} ${describe(kind, ep)}`);
  };

  const attempt = (version: Version, n: number): void => {
    const ep = table.pools[version].pick(Date.now(), tried);
    if (!ep) {
      if (version !== 'stable') {
        ctx.stats.fallback(version);
        return attempt('stable', n);
      }
      ctx.stats.upstreamError(version, 'noEndpoint');
      onServed(version);
      return sendError(res, 503, `no available endpoint for ${version}`);
    }
    onServed(version);
    tried.add(ep);
    ep.inFlight++;
    ep.connections.acquire(timeouts.connect, (err, conn) => {
      if (err || !conn) {
        ep.release();
        return failed(version, ep, err ?? 'connect', n);
      }
      if (clientGone) {
        ep.release();
        // Nothing was sent on it: it goes back to the pool for someone else.
        return ep.connections.release(conn);
      }
      ep.connected();
      current = conn;
      const done = () => {
        current = undefined;
        ep.release();
      };
      // The body is read only once: a replay (body-less GET/HEAD only) sends the head alone.
      const firstSend = !bodyStarted;
      bodyStarted = true;
      if (firstSend) {
        onBody?.(req);
        if (!withBody) req.resume();
      }
      const body = withBody && firstSend ? req : null;
      conn.send({
        head: requestHeadText(head, `${ep.host}:${ep.port}`),
        body,
        chunked: head.chunked,
        noResponseBody: head.method === 'HEAD',
        headersTimeoutMs: timeouts.upstreamHeaders,
        idleTimeoutMs: timeouts.idle,
        onResponse(response, alone) {
          const headers = clientResponseHeaders(response.raw);
          for (const h of extraHeaders) headers.push(h);
          try {
            res.writeHead(response.status, response.reason, headers);
          } catch {
            // A header Node will not send (a control character in a value): the response is unusable.
            conn.abort();
            done();
            return failed(version, ep, 'protocol', LAST_ATTEMPT);
          }
          // Long polls and event streams get their head now; otherwise it goes with the first bytes.
          // Not flushHeaders(): Node sends the head as UTF-8 then, mangling obs-text in values.
          if (alone) res.write(EMPTY);
        },
        onData: (chunk) => res.write(chunk),
        onEnd() {
          done();
          res.end();
        },
        onError(kind) {
          done();
          failed(version, ep, kind, n);
        },
      });
    });
  };
  attempt(first, 0);
  return abandon;
}

function describe(kind: UpstreamError, ep: Endpoint): string {
  switch (kind) {
    case 'overflow':
      return `endpoint ${ep.url} is at its connection limit (${ep.connections.maxConnections})`;
    case 'connect':
      return 'refused or dropped the connection';
    case 'connectTimeout':
      return 'did not accept the connection in time';
    case 'headersTimeout':
      return 'did not send response headers in time';
    case 'idleTimeout':
      return 'went idle mid-request';
    case 'protocol':
      return 'sent a malformed response';
    default:
      return 'closed the connection mid-request';
  }
}

/** kanari's own error responses: a status and a one-line reason. */
export function sendError(res: ServerResponse, status: number, reason: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `kanari: ${reason}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-kanari-error': reason,
  });
  res.end(body);
}
