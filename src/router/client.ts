/**
 * A client for the router's admin endpoint, used by the demo and by the controller to
 * read `/stats` and write `/table`. The address is `http://127.0.0.1:PORT` or
 * `unix:/path/to.sock` (what `kanari up` uses: a socket file cannot be taken by another
 * process the way a loopback port can). Requests go through node:http, which speaks both.
 * `forService(name)` addresses one service of a shared router, over the same connections.
 */
import http from 'node:http';
import type { RoutingTable } from '../config/schemas/table.js';
import type { ServiceSummary } from './admin.js';
import type { StatsSnapshot } from '../shared/stats-snapshot.js';

/** The router answered with an error status (`status`), or did not answer (no `status`). */
export class AdminError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    /** The router's own one-line reason, when it gave one. */
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'AdminError';
  }
}

function reasonIn(text: string): string | undefined {
  try {
    const { error } = JSON.parse(text) as { error?: unknown };
    return typeof error === 'string' ? error : undefined;
  } catch {
    return undefined;
  }
}

export class AdminClient {
  private readonly target: { socketPath: string } | { host: string; port: number };

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly timeoutMs = 2000,
    /** `/services/NAME` for one service of a shared router; empty for the router's only one. */
    private readonly prefix = '',
    private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 }),
  ) {
    if (url.startsWith('unix:')) this.target = { socketPath: url.slice('unix:'.length) };
    else {
      const u = new URL(url);
      this.target = { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) };
    }
  }

  async stats(): Promise<StatsSnapshot> {
    const snap = await this.request<StatsSnapshot>('GET', '/stats');
    // Anything else answering here (a process that took the address) must not pass for the router.
    if (typeof snap !== 'object' || snap === null || typeof snap.versions !== 'object' || typeof snap.time !== 'number')
      throw new Error(`${this.url}${this.prefix}/stats did not answer with router statistics`);
    return snap;
  }

  table(): Promise<{ revision: number; table: RoutingTable }> {
    return this.request('GET', '/table');
  }

  /** Replaces the table if it is still at `revision` (the router answers 409 otherwise). */
  async setTable(table: RoutingTable, revision: number): Promise<void> {
    await this.request(
      'PUT',
      '/table',
      JSON.stringify(table),
      { 'if-match': String(revision) },
      'router refused the table',
    );
  }

  /** A client for one service of a shared router, over this client's connections. */
  forService(name: string): AdminClient {
    return new AdminClient(this.url, this.token, this.timeoutMs, `/services/${name}`, this.agent);
  }

  async services(): Promise<ServiceSummary[]> {
    return (await this.request<{ services: ServiceSummary[] }>('GET', '/services')).services;
  }

  /** Adds a service (`spec` as a Router's service: listen, sticky, table, …), or finds it already the same. */
  addService(name: string, spec: unknown): Promise<ServiceSummary> {
    return this.request('PUT', `/services/${name}`, JSON.stringify(spec), {}, `router refused service ${name}`);
  }

  /** Removes a service once its requests in flight finished (at most `graceMs`). */
  async removeService(name: string, graceMs: number): Promise<void> {
    await this.request('DELETE', `/services/${name}?graceMs=${graceMs}`, undefined, {}, `router kept service ${name}`);
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  private request<T>(
    method: string,
    path: string,
    body?: string,
    headers: Record<string, string> = {},
    refused = `router admin ${path}`,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          ...this.target,
          method,
          path: this.prefix + path,
          agent: this.agent,
          timeout: this.timeoutMs,
          headers: {
            authorization: `Bearer ${this.token}`,
            ...(body === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if ((res.statusCode ?? 0) >= 300)
              return reject(new AdminError(`${refused}: ${res.statusCode} ${text}`, res.statusCode, reasonIn(text)));
            try {
              resolve(JSON.parse(text) as T);
            } catch {
              reject(new AdminError(`${refused}: the answer is not JSON`));
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${refused}: no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}
