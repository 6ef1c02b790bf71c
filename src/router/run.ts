import { chmodSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import type http from 'node:http';
import { connect, createServer, type AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import type { AdminAddress, RouterDocument } from '../config/schemas/router.js';
import type { RoutingTable } from '../config/schemas/table.js';
import { createAdminServer, RevisionConflict, type AdminBackend, type TableChange } from './admin.js';
import { HttpError, tokenFromFile } from '../shared/http.js';
import { describeSystemError, listenError, listenOrExplain, StartupError } from '../shared/system.js';
import { newPrivateDir } from '../shared/files.js';
import { startWorkers } from './cluster.js';
import { DataPlane } from './dataplane.js';
import { movesUsersOnto } from '../config/moves.js';
import { mergeSnapshots } from './stats.js';
import { type StatsSnapshot } from '../shared/stats-snapshot.js';
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

/** While the table in force is not saved, saving it is tried again this often. */
const RESAVE_MS = 5000;

/**
 * Starts `kanari router`: the data plane (in this process, or in N cluster workers) plus
 * the admin endpoint, which owns the routing table and persists every change before it
 * is applied, so a restarted router comes back with the last table it was given. When
 * the table cannot be saved, one that only takes users off versions is applied anyway
 * (rollback never waits for the disk) and one that moves users onto a version is refused.
 */
export async function startRouter(doc: RouterDocument, opts: RouterOptions = {}): Promise<RouterHandle> {
  const { spec } = doc;
  const service = doc.metadata.name;
  const base = opts.baseDir ?? process.cwd();
  const statePath = spec.state ? resolve(base, spec.state) : resolve('.kanari', service, 'router-table.json');
  try {
    newPrivateDir(dirname(statePath));
  } catch (err) {
    throw new StartupError(
      `cannot create the state directory ${dirname(statePath)} (spec.state): ${describeSystemError(err)}`,
    );
  }
  const token = adminToken(doc, base, statePath);
  const log = opts.log ?? (() => {});

  /**
   * Whether the table in force is the one on disk, how many tables could not be saved, and
   * what a restart would come back on (the last table saved, else the file's).
   */
  const persistence = { failures: 0, error: undefined as string | undefined, savedRevision: 0, restartsOn: spec.table };
  /** Saves `table`; the reason when it could not be (the disk, not the table). */
  const save = (table: StoredTable): string | undefined => {
    try {
      writeStoredTable(statePath, table);
    } catch (err) {
      return describeSystemError(err);
    }
    if (persistence.error !== undefined) log(`routing table revision ${table.revision} is saved to ${statePath} again`);
    persistence.error = undefined;
    persistence.savedRevision = table.revision;
    persistence.restartsOn = table.table;
    return undefined;
  };
  const tableStore = (): StatsSnapshot['tableStore'] => ({
    persisted: persistence.error === undefined,
    failures: persistence.failures,
  });

  let stored: StoredTable = readSaved(statePath) ?? { revision: 1, table: spec.table };
  if (stored.revision > 1) {
    persistence.savedRevision = stored.revision;
    persistence.restartsOn = stored.table;
    log(`restored routing table revision ${stored.revision} from ${statePath}`);
  } else {
    // A restart would serve the file's table too, so it is served whether or not it is saved.
    persistence.error = save(stored);
    if (persistence.error !== undefined) {
      persistence.failures++;
      log(`the routing table from the file is served but NOT saved to ${statePath}: ${persistence.error}`);
    }
  }

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
  const replaceWith =
    (apply: (t: RoutingTable, revision: number) => Promise<void> | void) =>
    (table: RoutingTable, ifRevision?: number) =>
      serialize(async (): Promise<TableChange> => {
        if (ifRevision !== undefined && ifRevision !== stored.revision) throw new RevisionConflict(stored.revision);
        const next = { revision: stored.revision + 1, table };
        const failure = save(next);
        if (failure !== undefined) persistence.failures++;
        // Judged against the table in force and against what a restart would bring back: two
        // unsaved steps that each only take users off (0%, then a new stable pool) can add up to a promotion.
        const onto =
          failure === undefined
            ? undefined
            : (movesUsersOnto(stored.table, table) ?? movesUsersOnto(persistence.restartsOn, table));
        if (onto) {
          log(
            `refused routing table revision ${next.revision}: it cannot be saved to ${statePath} (${failure}) and it moves users onto ${onto.version} (${onto.why})`,
          );
          throw new HttpError(
            503,
            `the routing table cannot be saved (${failure}) and it moves users onto ${onto.version} (${onto.why}): refused, so that a restart cannot undo it; a table that only takes users off versions is applied unsaved`,
          );
        }
        stored = next;
        await apply(table, next.revision);
        if (failure === undefined) return { revision: next.revision, persisted: true };
        persistence.error = failure;
        log(
          `routing table revision ${next.revision} is applied but NOT saved to ${statePath}: ${failure}; a restart would come back on revision ${persistence.savedRevision || 'of the file'}`,
        );
        return {
          revision: next.revision,
          persisted: false,
          persistError: `the routing table cannot be saved: ${failure}`,
        };
      });
  // Once the disk takes writes again, the table in force is saved without waiting for the next change.
  const resave = setInterval(
    () => void serialize(async () => persistence.error !== undefined && save(stored)),
    RESAVE_MS,
  );
  resave.unref();

  if (spec.workers === 1) {
    const plane = new DataPlane(spec, service, stored.table, stored.revision, {
      recordStats: opts.recordStats ?? true,
    });
    address = await plane.listen(spec.listen.port, spec.listen.host).catch((err: unknown) => {
      clearInterval(resave);
      throw listenError(err, spec.listen.port, spec.listen.host, 'spec.listen');
    });
    backend = {
      current: () => stored,
      replace: replaceWith((t, r) => plane.setTable(t, r)),
      stats: async () => ({ ...plane.stats.snapshot(stored.revision, plane.available()), tableStore: tableStore() }),
      health: async () => plane.endpointHealth(),
    };
    closeDataPlane = (graceMs) => plane.close(graceMs);
  } else {
    // Workers that cannot bind would die and be replaced forever; find out before forking them.
    await canListen(spec.listen.port, spec.listen.host).catch((err: unknown) => {
      clearInterval(resave);
      throw err;
    });
    const workers = await startWorkers(doc, stored, log, opts.recordStats ?? true);
    address = workers.address;
    backend = {
      current: () => stored,
      replace: replaceWith((t, r) => workers.setTable(t, r)),
      stats: async () => ({ ...mergeSnapshots(await workers.snapshots()), tableStore: tableStore() }),
      health: () => workers.health(),
    };
    closeDataPlane = () => workers.close();
  }

  const admin = createAdminServer(backend, token, opts.log);
  const adminAt = 'unix' in spec.admin.listen ? { unix: resolve(base, spec.admin.listen.unix) } : spec.admin.listen;
  let adminUrl: string;
  try {
    adminUrl = await listenAdmin(admin, adminAt);
  } catch (err) {
    clearInterval(resave);
    await closeDataPlane(0);
    throw err;
  }
  return {
    address,
    adminUrl,
    ...('unix' in adminAt ? { adminSocket: adminAt.unix } : {}),
    token,
    statePath,
    async close(graceMs) {
      clearInterval(resave);
      await new Promise<void>((done) => {
        admin.close(() => done());
        admin.closeAllConnections();
      });
      await closeDataPlane(graceMs);
    },
  };
}

/** The saved table; a file the router may not read stops it, as a damaged one does. */
function readSaved(path: string): StoredTable | undefined {
  try {
    return readStoredTable(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === undefined) throw err;
    throw new StartupError(`cannot read the saved routing table ${path}: ${describeSystemError(err)}`);
  }
}

/** Fails as listening would when `host:port` is taken (port 0 always works). */
async function canListen(port: number, host: string): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await listenOrExplain(probe, port, host, 'spec.listen');
  await new Promise((done) => probe.close(done));
}

async function listenAdmin(server: http.Server, at: AdminAddress): Promise<string> {
  if ('unix' in at) {
    try {
      newPrivateDir(dirname(at.unix));
      await removeStaleSocket(at.unix);
    } catch (err) {
      throw new StartupError(`cannot listen on unix:${at.unix} (spec.admin.listen): ${describeSystemError(err)}`);
    }
    await new Promise<void>((done, fail) => {
      server.once('error', (err) =>
        fail(new StartupError(`cannot listen on unix:${at.unix} (spec.admin.listen): ${describeSystemError(err)}`)),
      );
      server.listen(at.unix, () => done());
    });
    // Connecting takes write permission on the socket: its owner's alone.
    chmodSync(at.unix, 0o600);
    return `unix:${at.unix}`;
  }
  await listenOrExplain(server, at.port, at.host, 'spec.admin.listen');
  const a = server.address() as AddressInfo;
  return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
}

/**
 * A socket file left by a router that died would make listen fail with EADDRINUSE, so it
 * is removed — unless something answers on it: that is a live router's, and taking it
 * would cut that router off from its controller.
 */
async function removeStaleSocket(path: string): Promise<void> {
  try {
    if (!statSync(path).isSocket()) return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path, () => {
      probe.destroy();
      resolve(true);
    });
    probe.on('error', () => resolve(false));
  });
  if (live) throw Object.assign(new Error('in use'), { code: 'EADDRINUSE' });
  unlinkSync(path);
}

/** The admin token: from the file, from tokenFile, from KANARI_ADMIN_TOKEN, or generated once and kept beside the state. */
function adminToken(doc: RouterDocument, base: string, statePath: string): string {
  const { admin } = doc.spec;
  if (admin.token) return admin.token;
  if (admin.tokenFile) {
    const file = resolve(base, admin.tokenFile);
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new StartupError(`cannot read ${file} (spec.admin.tokenFile): ${describeSystemError(err)}`);
    }
  }
  if (process.env.KANARI_ADMIN_TOKEN) return process.env.KANARI_ADMIN_TOKEN;
  const file = join(dirname(statePath), 'admin-token');
  try {
    return tokenFromFile(file);
  } catch (err) {
    throw new StartupError(`cannot keep the admin token in ${file}: ${describeSystemError(err)}`);
  }
}
