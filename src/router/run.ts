import { mkdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import type { AdminAddress, RouterDocument } from '../config/schemas/router.js';
import type { RoutingTable } from '../config/schemas/table.js';
import { createAdminServer, RevisionConflict, type AdminBackend } from './admin.js';
import { tokenFromFile } from '../server/http.js';
import { startWorkers } from './cluster.js';
import { DataPlane } from './dataplane.js';
import { mergeSnapshots } from './stats.js';
import { readStoredTable, writeStoredTable, type StoredTable } from './tablestore.js';

export interface RouterOptions {
  /** Relative paths in the document (state, tokenFile) are resolved against this directory. */
  baseDir?: string;
  log?: (line: string) => void;
  /** Off only in bench/router, to measure what counting costs. */
  recordStats?: boolean;
}

export interface RouterHandle {
  /** Where users send traffic. */
  address: AddressInfo;
  /** `http://127.0.0.1:9901` or `unix:/path`. */
  adminUrl: string;
  adminSocket?: string;
  token: string;
  statePath: string;
  /** Stops the router; requests in flight get `graceMs` (default 10 s) to finish. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts `kanari router`: the data plane (in this process, or in N cluster workers) plus
 * the admin endpoint, which owns the routing table and persists every change before it
 * is applied, so a restarted router comes back with the last table it was given.
 */
export async function startRouter(doc: RouterDocument, opts: RouterOptions = {}): Promise<RouterHandle> {
  const { spec } = doc;
  const service = doc.metadata.name;
  const base = opts.baseDir ?? process.cwd();
  const statePath = spec.state ? resolve(base, spec.state) : resolve('.kanari', service, 'router-table.json');
  const token = adminToken(doc, base, statePath);
  const log = opts.log ?? (() => {});

  let stored: StoredTable = readStoredTable(statePath) ?? { revision: 1, table: spec.table };
  if (stored.revision > 1) log(`restored routing table revision ${stored.revision} from ${statePath}`);
  else writeStoredTable(statePath, stored);

  let backend: AdminBackend;
  let closeDataPlane: (graceMs?: number) => Promise<void>;
  let address: AddressInfo;
  let queue: Promise<unknown> = Promise.resolve();
  /** Table changes are applied one at a time, in the order they arrived. */
  const serialize = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => {});
    return next;
  };
  const replaceWith = (apply: (t: RoutingTable, revision: number) => Promise<void> | void) => (table: RoutingTable, ifRevision?: number) =>
    serialize(async () => {
      if (ifRevision !== undefined && ifRevision !== stored.revision) throw new RevisionConflict(stored.revision);
      const next = { revision: stored.revision + 1, table };
      writeStoredTable(statePath, next);
      stored = next;
      await apply(table, next.revision);
      return next.revision;
    });

  if (spec.workers === 1) {
    const plane = new DataPlane(spec, service, stored.table, stored.revision, { recordStats: opts.recordStats ?? true });
    address = await plane.listen(spec.listen.port, spec.listen.host);
    backend = {
      current: () => stored,
      replace: replaceWith((t, r) => plane.setTable(t, r)),
      stats: async () => plane.stats.snapshot(stored.revision, plane.available()),
      health: async () => plane.endpointHealth(),
    };
    closeDataPlane = (graceMs) => plane.close(graceMs);
  } else {
    const workers = await startWorkers(doc, stored, log, opts.recordStats ?? true);
    address = workers.address;
    backend = {
      current: () => stored,
      replace: replaceWith((t, r) => workers.setTable(t, r)),
      stats: async () => mergeSnapshots(await workers.snapshots()),
      health: () => workers.health(),
    };
    closeDataPlane = () => workers.close();
  }

  const admin = createAdminServer(backend, token);
  const adminAt = 'unix' in spec.admin.listen ? { unix: resolve(base, spec.admin.listen.unix) } : spec.admin.listen;
  const adminUrl = await listenAdmin(admin, adminAt);
  return {
    address,
    adminUrl,
    ...('unix' in adminAt ? { adminSocket: adminAt.unix } : {}),
    token,
    statePath,
    async close(graceMs) {
      await new Promise<void>((done) => {
        admin.close(() => done());
        admin.closeAllConnections();
      });
      await closeDataPlane(graceMs);
    },
  };
}

async function listenAdmin(server: http.Server, at: AdminAddress): Promise<string> {
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    if ('unix' in at) {
      mkdirSync(dirname(at.unix), { recursive: true });
      removeStaleSocket(at.unix);
      server.listen(at.unix, () => done());
    } else {
      server.listen(at.port, at.host, () => done());
    }
  });
  if ('unix' in at) return `unix:${at.unix}`;
  const a = server.address() as AddressInfo;
  return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
}

/** A socket file left by a router that died would make listen fail with EADDRINUSE. */
function removeStaleSocket(path: string): void {
  try {
    if (statSync(path).isSocket()) unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** The admin token: from the file, from tokenFile, from KANARI_ADMIN_TOKEN, or generated once and kept beside the state. */
function adminToken(doc: RouterDocument, base: string, statePath: string): string {
  const { admin } = doc.spec;
  if (admin.token) return admin.token;
  if (admin.tokenFile) return readFileSync(resolve(base, admin.tokenFile), 'utf8').trim();
  if (process.env.KANARI_ADMIN_TOKEN) return process.env.KANARI_ADMIN_TOKEN;
  return tokenFromFile(join(dirname(statePath), 'admin-token'));
}
