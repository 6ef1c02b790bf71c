import http from 'node:http';
import type { Version } from '../config/schemas/table.js';
import { ConnectionPool } from './connection-pool.js';

export interface EndpointHealth {
  url: string;
  /** Passing active health checks (true when none are configured). */
  healthy: boolean;
  /** Taken out after consecutive connection failures, until this time (ms since epoch). */
  ejectedUntil: number;
}

/** One upstream address with its own keep-alive connection pool. */
export class Endpoint {
  readonly host: string;
  readonly port: number;
  /** Keep-alive connections for proxied requests. */
  readonly connections: ConnectionPool;
  private mirrorAgent: http.Agent | undefined;
  healthy = true;
  ejectedUntil = 0;
  private connectFailures = 0;
  inFlight = 0;
  /** Mirrored copies on their way to this endpoint, capped like its connections. */
  mirrorsInFlight = 0;
  /** Set when a routing table no longer lists the endpoint; its sockets close once idle. */
  retired = false;

  constructor(
    readonly url: string,
    private readonly idleMs: number,
    maxConnections: number,
  ) {
    const u = new URL(url);
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(u.port || 80);
    this.connections = new ConnectionPool(this.host, this.port, maxConnections);
  }

  /** Mirrored copies go through Node's client: they are rare, and their answers are discarded. */
  get agent(): http.Agent {
    return (this.mirrorAgent ??= new http.Agent({ keepAlive: true, scheduling: 'lifo', timeout: this.idleMs }));
  }

  /** Closes every connection to this endpoint. */
  destroy(): void {
    this.connections.destroy();
    this.mirrorAgent?.destroy();
  }

  available(now: number): boolean {
    return this.healthy && now >= this.ejectedUntil;
  }

  /** Passive health: `failures` connection failures in a row eject the endpoint for `ejectForMs`. */
  connectFailed(now: number, failures: number, ejectForMs: number): void {
    if (++this.connectFailures >= failures) {
      this.ejectedUntil = now + ejectForMs;
      this.connectFailures = 0;
    }
  }

  connected(): void {
    this.connectFailures = 0;
  }

  health(): EndpointHealth {
    return { url: this.url, healthy: this.healthy, ejectedUntil: this.ejectedUntil };
  }

  release(): void {
    this.inFlight--;
    if (this.retired && this.inFlight === 0) this.destroy();
  }
}

/** A version's endpoints, picked round-robin among the available ones. */
export class Pool {
  private next = 0;
  constructor(
    readonly version: Version,
    readonly endpoints: readonly Endpoint[],
  ) {}

  pick(now: number, exclude?: ReadonlySet<Endpoint>): Endpoint | undefined {
    const n = this.endpoints.length;
    for (let i = 0; i < n; i++) {
      const ep = this.endpoints[(this.next + i) % n]!;
      if (ep.available(now) && !exclude?.has(ep)) {
        this.next = (this.next + i + 1) % n;
        return ep;
      }
    }
    return undefined;
  }

  available(now: number): boolean {
    return this.endpoints.some((ep) => ep.available(now));
  }
}

/**
 * Endpoints by URL, kept across routing-table changes so a new table reuses the
 * keep-alive connections of the old one; endpoints a table drops close once idle.
 */
export class EndpointRegistry {
  private readonly byUrl = new Map<string, Endpoint>();
  constructor(
    private readonly idleMs: number,
    private readonly maxConnectionsPerEndpoint: number,
  ) {}

  get(url: string): Endpoint {
    let ep = this.byUrl.get(url);
    if (!ep) {
      ep = new Endpoint(url, this.idleMs, this.maxConnectionsPerEndpoint);
      this.byUrl.set(url, ep);
    }
    return ep;
  }

  /** Retires every endpoint not in `keep`. */
  retainOnly(keep: ReadonlySet<string>): void {
    for (const [url, ep] of this.byUrl) {
      if (keep.has(url)) continue;
      this.byUrl.delete(url);
      ep.retired = true;
      ep.connections.close();
      if (ep.inFlight === 0) ep.destroy();
    }
  }

  all(): Endpoint[] {
    return [...this.byUrl.values()];
  }

  close(): void {
    for (const ep of this.byUrl.values()) ep.destroy();
    this.byUrl.clear();
  }
}
