import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import type { ServiceSpec } from '../config/schemas/router.js';
import type { RoutingTable } from '../config/schemas/table.js';
import { movesUsersOnto } from '../config/moves.js';
import { HttpError } from '../shared/http.js';
import { describeSystemError, listenError, listenOrExplain, StartupError } from '../shared/system.js';
import { newPrivateDir } from '../shared/files.js';
import { RevisionConflict, type AdminBackend, type TableChange } from './admin.js';
import { startWorkers } from './cluster.js';
import { DataPlane } from './dataplane.js';
import { mergeSnapshots } from './stats.js';
import type { StatsSnapshot } from '../shared/stats-snapshot.js';
import { readStoredTable, writeStoredTable, type StoredTable } from './tablestore.js';

export interface ServiceOptions {
  /** Where its last routing table is kept. */
  statePath: string;
  /** Processes sharing its listener; 1 serves it in this process. */
  workers: number;
  /** Where in the config its listen address is, for errors (`spec.listen`). */
  setting: string;
  log: (line: string) => void;
  /** Off only in bench/router, to measure what counting costs. */
  recordStats: boolean;
}

/** One service a router serves: its listener, and the admin backend that owns its table. */
export interface Service {
  name: string;
  spec: ServiceSpec;
  address: AddressInfo;
  backend: AdminBackend;
  /** Stops its listener; requests in flight get `graceMs` (default 10 s) to finish. */
  close(graceMs?: number): Promise<void>;
}

/** While the table in force is not saved, saving it is tried again this often. */
const RESAVE_MS = 5000;

/**
 * Opens one service: its data plane (in this process, or in N cluster workers) and the
 * table it owns, persisted before every change is applied, so a restarted router comes back
 * with the last table it was given. When the table cannot be saved, one that only takes
 * users off versions is applied anyway (rollback never waits for the disk) and one that
 * moves users onto a version is refused. Each service has its own table, revisions and
 * counters: nothing here is shared with another service.
 */
export async function openService(name: string, spec: ServiceSpec, o: ServiceOptions): Promise<Service> {
  const { statePath, log } = o;
  try {
    newPrivateDir(dirname(statePath));
  } catch (err) {
    throw new StartupError(`cannot create the state directory ${dirname(statePath)}: ${describeSystemError(err)}`);
  }

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

  try {
    if (o.workers === 1) {
      const plane = new DataPlane(spec, name, stored.table, stored.revision, { recordStats: o.recordStats });
      const address = await plane.listen(spec.listen.port, spec.listen.host).catch((err: unknown) => {
        throw listenError(err, spec.listen.port, spec.listen.host, o.setting);
      });
      const backend: AdminBackend = {
        current: () => stored,
        replace: replaceWith((t, r) => plane.setTable(t, r)),
        stats: async () => {
          const snapshot = plane.stats.snapshot(stored.revision, plane.available());
          return { ...(plane.keyTracker?.addTo(snapshot) ?? snapshot), tableStore: tableStore() };
        },
        health: async () => plane.endpointHealth(),
      };
      return { name, spec, address, backend, close: (graceMs) => stop(() => plane.close(graceMs)) };
    }
    // Workers that cannot bind would die and be replaced forever; find out before forking them.
    await canListen(spec.listen.port, spec.listen.host, o.setting);
    const workers = await startWorkers({ name, spec, workers: o.workers }, stored, log, o.recordStats);
    const backend: AdminBackend = {
      current: () => stored,
      replace: replaceWith((t, r) => workers.setTable(t, r)),
      stats: async () => ({ ...workers.addKeys(mergeSnapshots(await workers.snapshots())), tableStore: tableStore() }),
      health: () => workers.health(),
    };
    return { name, spec, address: workers.address, backend, close: () => stop(() => workers.close()) };
  } catch (err) {
    clearInterval(resave);
    throw err;
  }

  async function stop(closePlane: () => Promise<void>): Promise<void> {
    clearInterval(resave);
    await closePlane();
  }
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
async function canListen(port: number, host: string, setting: string): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await listenOrExplain(probe, port, host, setting);
  await new Promise((done) => probe.close(done));
}
