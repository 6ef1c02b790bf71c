import http from 'node:http';
import { bearerChecker, HttpError, internalError, readBody, send, sendText } from '../shared/http.js';
import { ConfigError } from '../config/errors.js';
import { parseText } from '../config/load.js';
import { routingTable, type RoutingTable, type Version } from '../config/schemas/table.js';
import { renderPrometheus } from './metrics.js';
import type { EndpointHealth } from './pool.js';
import type { StatsSnapshot } from '../shared/stats-snapshot.js';

const MAX_BODY_BYTES = 1024 * 1024;

/** What the admin endpoint needs from whoever owns the routing table. */
export interface AdminBackend {
  current(): { revision: number; table: RoutingTable };
  /** Replaces the table; rejects with RevisionConflict when `ifRevision` is given and stale. */
  replace(table: RoutingTable, ifRevision?: number): Promise<TableChange>;
  stats(): Promise<StatsSnapshot>;
  health(): Promise<Record<Version, EndpointHealth[]>>;
}

/** The answer to PUT /table: the new revision, and whether it is saved (a table that takes users off a version is applied even when it cannot be). */
export interface TableChange {
  revision: number;
  persisted: boolean;
  persistError?: string;
}

export class RevisionConflict extends Error {
  constructor(readonly current: number) {
    super(`the routing table is at revision ${current}`);
  }
}

/** A service as GET /services lists it: where it listens, or why it does not. */
export interface ServiceSummary {
  name: string;
  serving: boolean;
  address?: { host: string; port: number };
  revision?: number;
  reason?: string;
}

/** What the admin endpoint needs from the router: its services, and adding and removing them. */
export interface AdminHost {
  /** The service `/table`, `/stats`, … address without a `/services/NAME` prefix: the only one. */
  sole(): string | undefined;
  /** A service's backend; a string says why it is not serving; undefined when there is no such service. */
  backend(name: string): AdminBackend | string | undefined;
  list(): ServiceSummary[];
  /** Adds the service `text` describes (YAML or JSON), or checks that it is already the same. */
  add(name: string, text: string): Promise<{ created: boolean; summary: ServiceSummary }>;
  /** Closes its listener after in-flight requests finish (at most `graceMs`). */
  remove(name: string, graceMs: number): Promise<void>;
}

const RESOURCES = ['table', 'stats', 'metrics', 'health'];
const SERVICE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** How long DELETE /services/NAME lets requests in flight finish by default. */
const REMOVE_GRACE_MS = 10_000;

/**
 * The admin API. Per service, under `/services/NAME` (or without the prefix when the router
 * serves one service): GET/PUT /table (the whole routing table as one versioned document;
 * PUT takes If-Match: <revision> for safe concurrent writers), GET /stats (cumulative
 * JSON), GET /metrics (Prometheus), GET /health (endpoints). GET /services lists them, PUT
 * and DELETE /services/NAME add and remove one; GET /healthz needs no token. An internal
 * error is answered with an id and logged whole to `log` under it.
 */
export function createAdminServer(
  served: AdminHost | AdminBackend,
  token: string,
  log: (line: string) => void = (line) => console.error(`kanari router: ${line}`),
): http.Server {
  const host = 'current' in served ? oneService(served) : served;
  const authorized = bearerChecker(token);
  return http.createServer((req, res) => {
    void (async () => {
      const [path = '/', query = ''] = (req.url ?? '/').split('?');
      if (path === '/healthz') return send(res, 200, { ok: true });
      if (!authorized(req)) throw new HttpError(401, 'missing or wrong bearer token (Authorization: Bearer <token>)');
      const parts = path.split('/').slice(1);
      if (parts[0] === 'services') {
        if (parts.length === 1) {
          if (req.method !== 'GET') throw notAllowed(req, path, 'GET');
          return send(res, 200, { services: host.list() });
        }
        const name = parts[1]!;
        if (!SERVICE_NAME.test(name)) throw new HttpError(400, `${JSON.stringify(name)} is not a service name`);
        if (parts.length === 2) return serviceItself(host, name, req, res, query);
        if (parts.length === 3 && RESOURCES.includes(parts[2]!))
          return resource(serving(host, name), parts[2]!, path, req, res);
      } else if (parts.length === 1 && RESOURCES.includes(parts[0]!)) {
        const sole = host.sole();
        if (sole === undefined) {
          const names = host.list().map((s) => s.name);
          throw new HttpError(
            404,
            `this router serves ${names.length} services: address one as /services/NAME${path} (${names.join(', ') || 'none yet'})`,
          );
        }
        return resource(serving(host, sole), parts[0]!, path, req, res);
      }
      throw new HttpError(404, `no such admin resource ${path} (try /table, /stats, /metrics, /health, /services)`);
    })().catch((err: unknown) => {
      if (err instanceof HttpError)
        return send(
          res,
          err.status,
          { error: err.message, ...err.extra },
          { ...err.headers, ...(err.status === 401 ? { 'www-authenticate': 'Bearer' } : {}) },
        );
      if (err instanceof RevisionConflict)
        return send(res, 409, { error: `revision conflict: ${err.message}`, revision: err.current });
      if (err instanceof ConfigError)
        return send(res, 400, {
          error: 'invalid routing table',
          issues: err.issues.map(({ line, col, path, message }) => ({ line, col, path, message })),
        });
      send(res, 500, { error: internalError(req, err, log) });
    });
  });
}

/** A host of one fixed service, for a backend served alone. */
function oneService(backend: AdminBackend): AdminHost {
  const name = 'service';
  const fixed = () => Promise.reject(new HttpError(409, 'this admin endpoint serves one fixed service'));
  return {
    sole: () => name,
    backend: (n) => (n === name ? backend : undefined),
    list: () => [{ name, serving: true, revision: backend.current().revision }],
    add: fixed,
    remove: fixed,
  };
}

function serving(host: AdminHost, name: string): AdminBackend {
  const backend = host.backend(name);
  if (backend === undefined) throw new HttpError(404, `no service named ${name} (GET /services lists them)`);
  if (typeof backend === 'string') throw new HttpError(503, `service ${name} is not serving: ${backend}`);
  return backend;
}

/** GET, PUT (add) or DELETE (remove) /services/NAME. */
async function serviceItself(
  host: AdminHost,
  name: string,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  query: string,
): Promise<void> {
  switch (req.method) {
    case 'GET': {
      const found = host.list().find((s) => s.name === name);
      if (!found) throw new HttpError(404, `no service named ${name} (GET /services lists them)`);
      return send(res, 200, found);
    }
    case 'PUT': {
      const { created, summary } = await host.add(name, await readBody(req, MAX_BODY_BYTES, 'service'));
      return send(res, created ? 201 : 200, summary);
    }
    case 'DELETE': {
      const grace = new URLSearchParams(query).get('graceMs');
      const graceMs = grace === null ? REMOVE_GRACE_MS : Number(grace);
      if (!Number.isInteger(graceMs) || graceMs < 0)
        throw new HttpError(400, `graceMs must be a whole number of milliseconds (got ${JSON.stringify(grace)})`);
      await host.remove(name, graceMs);
      return send(res, 200, { name, removed: true });
    }
    default:
      throw notAllowed(req, `/services/${name}`, 'GET, PUT, DELETE');
  }
}

/** One service's /table, /stats, /metrics or /health. */
async function resource(
  backend: AdminBackend,
  name: string,
  path: string,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  switch (`${req.method} ${name}`) {
    case 'GET table':
      return send(res, 200, backend.current());
    case 'PUT table': {
      const table = parseBody(await readBody(req, MAX_BODY_BYTES, 'routing table'));
      const ifMatch = req.headers['if-match'];
      const ifRevision = ifMatch === undefined ? undefined : Number(ifMatch.replace(/"/g, ''));
      if (ifRevision !== undefined && !Number.isInteger(ifRevision))
        throw new HttpError(400, `If-Match must be a table revision number (got ${JSON.stringify(ifMatch)})`);
      return send(res, 200, await backend.replace(table, ifRevision));
    }
    case 'GET stats':
      return send(res, 200, await backend.stats());
    case 'GET health':
      return send(res, 200, await backend.health());
    case 'GET metrics': {
      const snap = await backend.stats();
      const text = renderPrometheus(snap, { weights: backend.current().table.weights, available: snap.available });
      return sendText(res, 200, text);
    }
    default:
      throw notAllowed(req, path, name === 'table' ? 'GET, PUT' : 'GET');
  }
}

function notAllowed(req: http.IncomingMessage, path: string, allowed: string): HttpError {
  return new HttpError(405, `${req.method} is not allowed on ${path} (allowed: ${allowed})`, { allow: allowed });
}

function parseBody(text: string): RoutingTable {
  return parseText(text, 'request body', routingTable);
}
