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

/**
 * The admin API: GET/PUT /table (the whole routing table as one versioned document;
 * PUT takes If-Match: <revision> for safe concurrent writers), GET /stats (cumulative
 * JSON), GET /metrics (Prometheus), GET /health (endpoints), GET /healthz (no token).
 * An internal error is answered with an id and logged whole to `log` under it.
 */
export function createAdminServer(
  backend: AdminBackend,
  token: string,
  log: (line: string) => void = (line) => console.error(`kanari router: ${line}`),
): http.Server {
  const authorized = bearerChecker(token);
  return http.createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz') return send(res, 200, { ok: true });
      if (!authorized(req)) throw new HttpError(401, 'missing or wrong bearer token (Authorization: Bearer <token>)');
      const route = `${req.method} ${path}`;
      switch (route) {
        case 'GET /table':
          return send(res, 200, backend.current());
        case 'PUT /table': {
          const table = parseBody(await readBody(req, MAX_BODY_BYTES, 'routing table'));
          const ifMatch = req.headers['if-match'];
          const ifRevision = ifMatch === undefined ? undefined : Number(ifMatch.replace(/"/g, ''));
          if (ifRevision !== undefined && !Number.isInteger(ifRevision))
            throw new HttpError(400, `If-Match must be a table revision number (got ${JSON.stringify(ifMatch)})`);
          return send(res, 200, await backend.replace(table, ifRevision));
        }
        case 'GET /stats':
          return send(res, 200, await backend.stats());
        case 'GET /health':
          return send(res, 200, await backend.health());
        case 'GET /metrics': {
          const snap = await backend.stats();
          const text = renderPrometheus(snap, { weights: backend.current().table.weights, available: snap.available });
          return sendText(res, 200, text);
        }
        default: {
          const allowed =
            path === '/table' ? 'GET, PUT' : ['/stats', '/metrics', '/health'].includes(path!) ? 'GET' : undefined;
          if (allowed)
            throw new HttpError(405, `${req.method} is not allowed on ${path} (allowed: ${allowed})`, {
              allow: allowed,
            });
          throw new HttpError(404, `no such admin resource ${path} (try /table, /stats, /metrics, /health)`);
        }
      }
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

function parseBody(text: string): RoutingTable {
  return parseText(text, 'request body', routingTable);
}
