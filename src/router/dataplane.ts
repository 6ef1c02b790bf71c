import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { RouterSpec, Sticky } from '../config/schemas/router.js';
import type { RoutingTable, Version } from '../config/schemas/table.js';
import { forward, hasBody } from './forward.js';
import { HealthChecker } from './health.js';
import { clientResponseHeaders, rawResponseHead, upstreamRequestHeaders } from './headers.js';
import { cookieValue, matchVersion } from './match.js';
import { murmur3 } from './hash.js';
import { startMirror } from './mirror.js';
import { EndpointRegistry, type EndpointHealth } from './pool.js';
import { bucketOf, randomBucket, versionForBucket } from './split.js';
import { RouterStats } from './stats.js';
import { compileTable, type CompiledTable } from './table.js';

const COOKIE_MAX_AGE_S = 365 * 24 * 3600;

/** Where a request goes, and the Set-Cookie to send if kanari just gave the user an id. */
export interface RouteDecision {
  version: Version;
  setCookie?: string;
}

/**
 * The data plane of one service: its listener, the routing table in force, upstream
 * pools, health and counters. It serves whatever table it was last given; it knows
 * nothing of controllers, files or admin endpoints.
 */
export class DataPlane {
  readonly stats: RouterStats;
  readonly server: http.Server;
  private readonly endpoints: EndpointRegistry;
  private readonly seed: number;
  private readonly health: HealthChecker | undefined;
  private current: CompiledTable;
  /** What keeps a user on one version; by default a cookie named after the service. */
  private readonly sticky: Sticky;
  /** Client sockets handed over to WebSocket (or other upgrade) tunnels. */
  private readonly tunnels = new Set<Socket>();

  /** `recordStats: false` exists for the benchmark that measures what counting costs. */
  constructor(readonly spec: RouterSpec, service: string, table: RoutingTable, revision: number, private readonly opts: { recordStats?: boolean } = {}) {
    this.stats = new RouterStats(service);
    this.seed = murmur3(service);
    this.sticky = spec.sticky ?? { cookie: `kanari-${service}` };
    this.endpoints = new EndpointRegistry(spec.timeouts.idle);
    this.current = compileTable(table, revision, this.endpoints);
    this.health = spec.health ? new HealthChecker(spec.health, () => this.endpoints.all()) : undefined;
    this.server = http.createServer(
      {
        insecureHTTPParser: false,
        maxHeaderSize: spec.limits.maxHeaderBytes,
        headersTimeout: spec.timeouts.clientHeaders,
        requestTimeout: 0,
        keepAliveTimeout: spec.timeouts.idle,
      },
      (req, res) => this.handle(req, res),
    );
    this.server.timeout = spec.timeouts.idle;
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
    this.server.on('clientError', (err: Error & { code?: string }, socket: Socket) => this.clientError(err, socket));
  }

  get table(): CompiledTable {
    return this.current;
  }

  /** Swaps the routing table; requests already routed finish on the table they started with. */
  setTable(table: RoutingTable, revision: number): void {
    this.current = compileTable(table, revision, this.endpoints);
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host }, () => {
        this.server.off('error', reject);
        this.health?.start();
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Starts health checks without owning a listener (cluster workers share the primary's). */
  startHealth(): void {
    this.health?.start();
  }

  endpointHealth(): Record<Version, EndpointHealth[]> {
    const t = this.current;
    return { stable: t.pools.stable.endpoints.map((e) => e.health()), canary: t.pools.canary.endpoints.map((e) => e.health()), baseline: t.pools.baseline.endpoints.map((e) => e.health()) };
  }

  available(): Record<Version, boolean> {
    const now = Date.now();
    const t = this.current;
    return { stable: t.pools.stable.available(now), canary: t.pools.canary.available(now), baseline: t.pools.baseline.available(now) };
  }

  /**
   * Stops accepting, lets requests in flight finish for up to `graceMs`, then drops what
   * is left (long polls, WebSocket tunnels) so shutdown always ends.
   */
  async close(graceMs = 10_000): Promise<void> {
    this.health?.stop();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.closeAllConnections();
        for (const socket of this.tunnels) socket.destroy();
      }, graceMs);
      timer.unref();
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.server.closeIdleConnections();
      for (const socket of this.tunnels) socket.end();
    });
    this.endpoints.close();
  }

  /** Match rules first, then the sticky bucket against the weights; no key means a random bucket. */
  route(req: IncomingMessage, table: CompiledTable): RouteDecision {
    const sticky = this.sticky;
    let key: string | undefined;
    let setCookie: string | undefined;
    if (sticky.cookie) {
      key = cookieValue(req.headers.cookie, sticky.cookie);
      if (key === undefined) {
        key = randomBytes(12).toString('base64url');
        setCookie = `${sticky.cookie}=${key}; Path=/; Max-Age=${COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Lax`;
      }
    } else if (sticky.header) {
      const value = req.headers[sticky.header];
      key = Array.isArray(value) ? value[0] : value;
    } else {
      key = req.socket.remoteAddress;
    }
    const matched = table.rules.length > 0 ? matchVersion(table.rules, req.headers) : undefined;
    if (matched) return { version: matched, setCookie };
    const bucket = key === undefined ? randomBucket() : bucketOf(key, this.seed);
    return { version: versionForBucket(bucket, table.weights), setCookie };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const table = this.current;
    const { version, setCookie } = this.route(req, table);
    if (this.opts.recordStats === false) {
      forward(this, table, req, res, version, setCookie ? ['Set-Cookie', setCookie] : [], () => {});
      return;
    }
    let served: Version | undefined;
    const onServed = (v: Version) => {
      if (served === v) return;
      if (served) this.stats.inFlightMoved(served, v);
      else this.stats.started(v);
      served = v;
    };
    res.once('close', () => {
      // A client that left before the response finished is counted as 499, as nginx does.
      const status = res.writableFinished ? res.statusCode : 499;
      if (served) this.stats.finished(served, status, (performance.now() - started) / 1000);
    });
    const mirror = table.mirror && table.mirror.version !== version && randomBucket() < table.mirror.buckets ? startMirror(table, req, this.stats, this.spec.timeouts.upstreamHeaders) : undefined;
    forward(this, table, req, res, version, setCookie ? ['Set-Cookie', setCookie] : [], onServed, mirror);
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const started = performance.now();
    const table = this.current;
    const { version: wanted } = this.route(req, table);
    const now = Date.now();
    const version = table.pools[wanted].available(now) ? wanted : 'stable';
    const ep = table.pools[version].pick(now);
    const refuse = (status: number, reason: string) => {
      socket.end(rawResponseHead(status, reason, ['Connection', 'close', 'Content-Length', '0']));
    };
    if (!ep) return refuse(503, 'Service Unavailable');
    this.stats.started(version);
    let counted = false;
    const count = (status: number) => {
      if (counted) return;
      counted = true;
      this.stats.finished(version, status, (performance.now() - started) / 1000);
    };
    const up = http.request({ host: ep.host, port: ep.port, method: req.method, path: req.url, headers: upstreamRequestHeaders(req, true), agent: false, timeout: this.spec.timeouts.connect });
    up.on('timeout', () => up.destroy(new Error('timeout')));
    up.on('upgrade', (upRes, upSocket, upHead) => {
      count(upRes.statusCode ?? 101);
      upSocket.setTimeout(0);
      socket.write(rawResponseHead(upRes.statusCode ?? 101, upRes.statusMessage ?? 'Switching Protocols', clientResponseHeaders(upRes.rawHeaders, true)));
      if (upHead.length > 0) socket.write(upHead);
      if (head.length > 0) upSocket.write(head);
      // Each side's end is passed on by pipe(); once either side is gone, both go.
      upSocket.pipe(socket).pipe(upSocket);
      this.tunnels.add(socket);
      const end = () => {
        this.tunnels.delete(socket);
        upSocket.destroy();
        socket.destroy();
      };
      upSocket.on('error', end);
      socket.on('error', end);
      upSocket.on('close', end);
      socket.on('close', end);
    });
    up.on('response', (upRes) => {
      // The upstream declined the upgrade: relay its answer and close.
      count(upRes.statusCode ?? 502);
      socket.write(rawResponseHead(upRes.statusCode ?? 502, upRes.statusMessage ?? '', [...clientResponseHeaders(upRes.rawHeaders), 'Connection', 'close']));
      upRes.pipe(socket);
    });
    up.on('error', () => {
      this.stats.upstreamError(version, 'connect');
      count(502);
      refuse(502, 'Bad Gateway');
    });
    socket.on('error', () => up.destroy());
    if (hasBody(req)) req.pipe(up);
    else up.end();
  }

  private clientError(err: Error & { code?: string }, socket: Socket): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    if (tooLarge) this.stats.rejected.headersTooLarge++;
    else if (err.code !== 'ERR_HTTP_REQUEST_TIMEOUT') this.stats.rejected.badRequest++;
    const [status, text, reason] = tooLarge
      ? [431, 'Request Header Fields Too Large', `request headers exceed ${this.spec.limits.maxHeaderBytes} bytes`]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'request headers were not received in time']
        : [400, 'Bad Request', `malformed request (${(err as { reason?: string }).reason ?? err.code ?? 'parse error'})`];
    const body = `kanari: ${reason}\n`;
    socket.end(rawResponseHead(status, text, ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body)), 'Connection', 'close']) + body);
  }
}

