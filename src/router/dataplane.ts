import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ServiceSpec, Sticky } from '../config/schemas/router.js';
import type { RoutingTable, Version } from '../config/schemas/table.js';
import { forward } from './forward.js';
import { HealthChecker } from './health.js';
import { KeyRecorder, KeyTracker, startsFresh, type KeySink } from './keys.js';
import { cookieValue, matchVersion } from './match.js';
import { murmur3 } from './hash.js';
import { startMirror } from './mirror.js';
import { EndpointRegistry, type EndpointHealth } from './pool.js';
import { ClientConnection, MAX_PIPELINED } from './connection.js';
import { closeWithAnswer, lingerAfterLastAnswer, lingering } from './refusal.js';
import { readRequestHead, type RequestHead } from './request-head.js';
import { bucketOf, randomBucket, versionForBucket } from './split.js';
import { RouterStats } from './stats.js';
import { compileTable, type CompiledTable } from './table.js';
import { openTunnel } from './tunnel.js';

const COOKIE_MAX_AGE_S = 365 * 24 * 3600;

/** Where a request goes, and the Set-Cookie to send if kanari just gave the user an id. */
export interface RouteDecision {
  version: Version;
  setCookie?: string;
  /** The stickiness key, when the request has one. */
  key?: string;
  /** Sent by a header or cookie match route, not by the weights: its user is not counted. */
  matched?: true;
}

/**
 * The data plane of one service: its listener, the routing table in force, upstream
 * pools, health and counters. It serves whatever table it was last given; it knows
 * nothing of controllers, files or admin endpoints.
 */
export class DataPlane {
  readonly stats: RouterStats;
  /** The service's key tracker, when this process holds it (not in a worker: the primary does). */
  readonly keyTracker: KeyTracker | undefined;
  private readonly keys: KeyRecorder | undefined;
  readonly server: http.Server;
  private readonly endpoints: EndpointRegistry;
  private readonly seed: number;
  private readonly health: HealthChecker | undefined;
  private current: CompiledTable;
  /** What keeps a user on one version; by default a cookie named after the service. */
  private readonly sticky: Sticky;
  /**
   * Client sockets Node handed over (Upgrade, CONNECT) and no longer counts as its own:
   * tunnels, and those being refused or waiting for an earlier answer. close() ends them.
   */
  private readonly handedOver = new Set<Socket>();

  /** `recordStats: false` exists for the benchmark that measures what counting costs. */
  constructor(
    readonly spec: ServiceSpec,
    service: string,
    table: RoutingTable,
    revision: number,
    /** `workers`: how many processes share this listener (and its connection cap); `keys`: where a worker sends its key records. */
    private readonly opts: { recordStats?: boolean; workers?: number; keys?: KeySink } = {},
  ) {
    this.stats = new RouterStats(service);
    if (opts.recordStats !== false) {
      this.keyTracker = opts.keys ? undefined : new KeyTracker(spec.limits.trackedKeys);
      this.keys = new KeyRecorder(service, opts.keys ?? this.keyTracker!);
    }
    this.seed = murmur3(service);
    this.sticky = spec.sticky ?? { cookie: `kanari-${service}` };
    this.endpoints = new EndpointRegistry(spec.timeouts.idle, spec.limits.maxConnectionsPerEndpoint);
    this.current = compileTable(table, revision, this.endpoints);
    this.health = spec.health ? new HealthChecker(spec.health, () => this.endpoints.all()) : undefined;
    const { timeouts, limits } = spec;
    this.server = http.createServer(
      {
        insecureHTTPParser: false,
        maxHeaderSize: limits.maxHeaderBytes,
        // Host is checked with the rest of the head, so its absence gets a reason too.
        requireHostHeader: false,
        headersTimeout: timeouts.clientHeaders,
        // Node only looks for late headers this often (30 s by default): this fires at most a
        // quarter of clientHeaders late. Bodies have their own timer (timeBody).
        connectionsCheckingInterval: Math.max(50, timeouts.clientHeaders / 4),
        requestTimeout: 0,
        keepAliveTimeout: timeouts.idle,
      },
      (req, res) => this.handle(req, res),
    );
    this.server.timeout = timeouts.idle;
    // With workers the listener is shared, and so is the cap.
    this.server.maxConnections = Math.ceil(limits.maxConnections / (opts.workers ?? 1));
    this.server.on('drop', () => this.stats.rejected.tooManyConnections++);
    this.server.on('connection', (socket: Socket) => lingerAfterLastAnswer(socket));
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.upgrade(req, this.handOver(socket), head),
    );
    this.server.on('connect', (req: IncomingMessage, socket: Socket) =>
      this.refuse(ClientConnection.of(this.handOver(socket)), 501, `${req.method} is not supported by a reverse proxy`),
    );
    this.server.on('clientError', (err: Error & { code?: string }, socket: Socket) => this.clientError(err, socket));
  }

  get table(): CompiledTable {
    return this.current;
  }

  /** Swaps the routing table; requests already routed finish on the table they started with. */
  setTable(table: RoutingTable, revision: number): void {
    // Before the swap, so the first requests a new release routes count in its epoch.
    if (startsFresh(this.current.table, table)) this.keyTracker?.reset();
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
    return {
      stable: t.pools.stable.endpoints.map((e) => e.health()),
      canary: t.pools.canary.endpoints.map((e) => e.health()),
      baseline: t.pools.baseline.endpoints.map((e) => e.health()),
    };
  }

  available(): Record<Version, boolean> {
    const now = Date.now();
    const t = this.current;
    return {
      stable: t.pools.stable.available(now),
      canary: t.pools.canary.available(now),
      baseline: t.pools.baseline.available(now),
    };
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
        for (const socket of this.handedOver) socket.destroy();
      }, graceMs);
      timer.unref();
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.server.closeIdleConnections();
      for (const socket of this.handedOver) socket.end();
    });
    this.endpoints.close();
  }

  /** Match rules first, then the sticky bucket against the weights; no key means a random bucket. */
  route(head: RequestHead, req: IncomingMessage, table: CompiledTable): RouteDecision {
    const sticky = this.sticky;
    let key: string | undefined;
    let setCookie: string | undefined;
    if (sticky.cookie) {
      key = cookieValue(head.value('cookie'), sticky.cookie);
      if (key === undefined) {
        key = randomBytes(12).toString('base64url');
        setCookie = `${sticky.cookie}=${key}; Path=/; Max-Age=${COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Lax`;
      }
    } else if (sticky.header) {
      key = head.value(sticky.header);
    } else if (sticky.clientAddress) {
      key = req.socket.remoteAddress;
    }
    const matched = table.rules.length > 0 ? matchVersion(table.rules, head.value) : undefined;
    if (matched) return { version: matched, setCookie, matched: true };
    const bucket = key === undefined ? randomBucket() : bucketOf(key, this.seed);
    return { version: versionForBucket(bucket, table.weights), setCookie, key };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const conn = ClientConnection.of(req.socket);
    // A request pipelined behind a refused one is never forwarded; the socket closes after the refusal.
    if (conn.refused) return conn.ignore();
    if (conn.full) return this.refuse(conn, 503, `more than ${MAX_PIPELINED} requests pipelined on one connection`);
    const head = readRequestHead(req, this.spec.limits.maxHeaderLines);
    if (head.refused) return this.refuse(conn, head.status, head.reason);
    if (head.hasBody) this.timeBody(req, conn);
    const started = performance.now();
    const table = this.current;
    const decision = this.route(head, req, table);
    const { version, setCookie } = decision;
    if (this.opts.recordStats === false) {
      conn.track(
        req,
        res,
        forward(this, table, head, req, res, version, setCookie ? ['Set-Cookie', setCookie] : [], () => {}),
      );
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
      if (served) this.finished(decision, served, status, (performance.now() - started) / 1000);
    });
    const mirror =
      table.mirror && table.mirror.version !== version && randomBucket() < table.mirror.buckets
        ? startMirror(table, head, this.stats, this.spec.timeouts.upstreamHeaders)
        : undefined;
    conn.track(
      req,
      res,
      forward(this, table, head, req, res, version, setCookie ? ['Set-Cookie', setCookie] : [], onServed, mirror),
    );
  }

  /** Counts a finished request; its user only when the weights routed it (a match route picks its users). */
  private finished(decision: RouteDecision, served: Version, status: number, seconds: number): void {
    this.stats.finished(served, status, seconds);
    if (!decision.matched) this.keys?.record(decision.key, served, status, seconds);
  }

  private upgrade(req: IncomingMessage, socket: Socket, early: Buffer): void {
    const conn = ClientConnection.of(socket);
    if (conn.refused) return void socket.destroy();
    // Pipelined behind answers still going out: the tunnel's head waits for them.
    conn.afterAnswers(() => this.tunnel(req, socket, early, conn));
  }

  private tunnel(req: IncomingMessage, socket: Socket, early: Buffer, conn: ClientConnection): void {
    const head = readRequestHead(req, this.spec.limits.maxHeaderLines, true);
    if (head.refused) return this.refuse(conn, head.status, head.reason);
    const started = performance.now();
    const table = this.current;
    const decision = this.route(head, req, table);
    const wanted = decision.version;
    const now = Date.now();
    const version = table.pools[wanted].available(now) ? wanted : 'stable';
    const ep = table.pools[version].pick(now);
    if (!ep) return closeWithAnswer(socket, 503, `no available endpoint for ${version}`);
    this.stats.started(version);
    let counted = false;
    const count = (status: number) => {
      if (counted) return;
      counted = true;
      this.finished(decision, version, status, (performance.now() - started) / 1000);
    };
    openTunnel(head, socket, early, ep, this.spec.timeouts.connect, {
      answered: count,
      failed: () => {
        this.stats.upstreamError(version, 'connect');
        count(502);
        closeWithAnswer(socket, 502, `upstream ${version} refused or dropped the connection`);
      },
    });
  }

  /**
   * A body must arrive within clientBody of the time kanari spends reading it: the clock runs
   * while the body flows and stops while kanari holds it back (its upstream is slow to take
   * it, or no connection is free yet), so a slow drip is cut off and a slow upstream is not
   * blamed on the client.
   */
  private timeBody(req: IncomingMessage, conn: ClientConnection): void {
    let left = this.spec.timeouts.clientBody;
    let since = 0;
    let timer: NodeJS.Timeout | undefined;
    const run = () => {
      if (timer || req.complete) return;
      since = Date.now();
      timer = setTimeout(() => this.timedOut(req.socket, conn, 'the request body was not received in time'), left);
    };
    const stop = () => {
      if (!timer) return;
      clearTimeout(timer);
      timer = undefined;
      left -= Date.now() - since;
    };
    req.on('resume', run);
    req.on('pause', stop);
    req.once('end', stop);
    req.once('close', stop);
  }

  private handOver(socket: Socket): Socket {
    this.handedOver.add(socket);
    socket.once('close', () => this.handedOver.delete(socket));
    return socket;
  }

  /** Refuses what the client sent last (see ClientConnection.refuse), counting it once. */
  private refuse(conn: ClientConnection, status: number, reason: string): void {
    if (conn.refuse(status, reason)) this.countRefusal(status);
  }

  private countRefusal(status: number): void {
    if (status === 431) this.stats.rejected.headersTooLarge++;
    else if (status !== 408) this.stats.rejected.badRequest++;
  }

  private clientError(err: Error & { code?: string }, socket: Socket): void {
    const conn = ClientConnection.of(socket);
    // Already refusing, or lingering after the last answer: Node's parser repeats its error for every read that follows.
    if (conn.refused || lingering(socket)) return;
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT')
      return this.timedOut(socket, conn, 'request headers were not received in time');
    if (err.code === 'HPE_HEADER_OVERFLOW')
      return this.refuse(conn, 431, `request headers exceed ${this.spec.limits.maxHeaderBytes} bytes`);
    this.refuse(conn, 400, `malformed request (${(err as { reason?: string }).reason ?? err.code ?? 'parse error'})`);
  }

  /** 408 — or, when the late request's own answer has begun, the connection cut (ClientConnection.refuse). */
  private timedOut(socket: Socket, conn: ClientConnection, reason: string): void {
    if (conn.refused || !socket.writable) return void socket.destroy();
    this.refuse(conn, 408, reason);
  }
}
