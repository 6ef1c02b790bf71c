import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { RouterSpec } from '../config/schemas/router.js';
import type { Version } from '../config/schemas/table.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';
import type { Endpoint } from './pool.js';
import type { RouterStats, UpstreamError } from './stats.js';
import type { CompiledTable } from './table.js';

export interface ForwardContext {
  readonly spec: RouterSpec;
  readonly stats: RouterStats;
}

class UpstreamFailure extends Error {
  constructor(readonly kind: UpstreamError) {
    super(kind);
  }
}

/** Whether the request carries a body (so a retry after it was sent cannot replay it). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function classify(err: Error & { code?: string }, connected: boolean): UpstreamError {
  if (err instanceof UpstreamFailure) return err.kind;
  if (!connected) return 'connect';
  if (err.code?.startsWith('HPE_')) return 'protocol';
  return 'reset';
}

/**
 * Sends `req` to `version` and streams the answer to `res`. A failure before any byte
 * reached an upstream (refused, reset or timed out while connecting) is retried once on
 * another endpoint of the same pool, then on stable; one after that only for a GET or HEAD
 * without a body. `onServed` learns which version finally served the request.
 */
export function forward(ctx: ForwardContext, table: CompiledTable, req: IncomingMessage, res: ServerResponse, first: Version, extraHeaders: readonly string[], onServed: (v: Version) => void, onBody?: (req: IncomingMessage) => void): void {
  const { timeouts, passive } = ctx.spec;
  const outHeaders = upstreamRequestHeaders(req);
  const replayable = (req.method === 'GET' || req.method === 'HEAD') && !hasBody(req);
  const tried = new Set<Endpoint>();
  let bodyStarted = false;
  let clientGone = false;
  let current: http.ClientRequest | undefined;
  res.once('close', () => {
    if (!res.writableFinished) {
      clientGone = true;
      current?.destroy();
    }
  });

  const attempt = (version: Version, n: number): void => {
    const now = Date.now();
    const ep = table.pools[version].pick(now, tried);
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
    let connected = false;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const up = http.request({ agent: ep.agent, host: ep.host, port: ep.port, method: req.method, path: req.url, headers: outHeaders, timeout: timeouts.idle, insecureHTTPParser: false });
    current = up;
    const fail = (kind: UpstreamError) => up.destroy(new UpstreamFailure(kind));

    const onConnected = () => {
      connected = true;
      ep.connected();
      clearTimeout(timer);
      timer = setTimeout(fail, timeouts.upstreamHeaders, 'headersTimeout');
      if (bodyStarted) {
        up.end(); // a replay: only body-less GET/HEAD are retried once the body was sent
        return;
      }
      bodyStarted = true;
      onBody?.(req);
      req.pipe(up);
    };
    up.on('socket', (socket) => {
      socket.setNoDelay(true);
      if (socket.connecting) {
        timer = setTimeout(fail, timeouts.connect, 'connectTimeout');
        socket.once('connect', onConnected);
      } else {
        onConnected();
      }
    });
    up.on('timeout', () => fail('idleTimeout'));
    up.on('response', (upRes) => {
      clearTimeout(timer);
      const headers = clientResponseHeaders(upRes);
      headers.push(...extraHeaders);
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, headers);
      upRes.pipe(res);
      upRes.on('error', () => res.destroy());
    });
    up.once('close', () => ep.release());
    up.on('error', (err: Error & { code?: string }) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      if (clientGone) return;
      const kind = classify(err, connected);
      ctx.stats.upstreamError(version, kind);
      if (kind === 'connect' || kind === 'connectTimeout') ep.connectFailed(Date.now(), passive.failures, passive.ejectFor);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const mayRetry = n < 2 && (!bodyStarted || replayable);
      if (mayRetry) {
        const next = n === 0 && table.pools[version].pick(Date.now(), tried) ? version : version === 'stable' ? undefined : 'stable';
        if (next) {
          ctx.stats.retries++;
          return attempt(next, n + 1);
        }
      }
      const timedOut = kind === 'headersTimeout' || kind === 'connectTimeout' || kind === 'idleTimeout';
      sendError(res, timedOut ? 504 : 502, `upstream ${version} ${describe(kind)}`);
    });
    req.on('error', () => up.destroy());
  };
  attempt(first, 0);
}

function describe(kind: UpstreamError): string {
  switch (kind) {
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
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-kanari-error': reason });
  res.end(body);
}
