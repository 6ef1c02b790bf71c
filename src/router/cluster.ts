import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ServiceSpec } from '../config/schemas/router.js';
import type { RoutingTable, Version } from '../config/schemas/table.js';
import type { EndpointHealth } from './pool.js';
import type { StatsSnapshot } from '../shared/stats-snapshot.js';
import type { StoredTable } from './tablestore.js';
import { replayBatch } from './key-batch.js';
import { KeyTracker, stableOnly, startsFresh } from './keys.js';

export type ToWorker =
  | { type: 'init'; service: WorkerService; stored: StoredTable; recordStats: boolean }
  | { type: 'table'; id: number; table: RoutingTable; revision: number }
  | { type: 'stats'; id: number }
  | { type: 'health'; id: number };
export type FromWorker =
  | { type: 'hello' }
  | { type: 'ready'; address: AddressInfo }
  | { type: 'reply'; id: number; value: unknown }
  | { type: 'keys'; batch: string };

const REPLY_TIMEOUT_MS = 5000;

/** The service the workers serve, and how many of them share its listener. */
export interface WorkerService {
  name: string;
  spec: ServiceSpec;
  workers: number;
}

export interface Workers {
  address: AddressInfo;
  setTable(table: RoutingTable, revision: number): Promise<void>;
  snapshots(): Promise<StatsSnapshot[]>;
  /** The merged snapshot with the service's key counts, which the primary holds. */
  addKeys(snapshot: StatsSnapshot): StatsSnapshot;
  health(): Promise<Record<Version, EndpointHealth[]>>;
  close(): Promise<void>;
}

/**
 * Forks `service.workers` processes that share the listener, each accepting connections
 * itself (SCHED_NONE: the kernel spreads them, the primary stays off the data path).
 * The primary keeps the table, pushes every change to all workers and waits for each to
 * apply it; a worker that dies is replaced and given the current table.
 */
export async function startWorkers(
  service: WorkerService,
  initial: StoredTable,
  log: (line: string) => void,
  recordStats = true,
): Promise<Workers> {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith('.ts');
  cluster.setupPrimary({
    exec: here.replace(/cluster\.(ts|js)$/, 'worker.$1'),
    execArgv: fromSource ? ['--import', 'tsx'] : [],
  });

  let stored = initial;
  let closing = false;
  let nextId = 1;
  const pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  const live = new Set<Worker>();
  // One tracker for the service: workers send their records here, so a user served by two is one user.
  const keys = recordStats ? new KeyTracker(service.spec.limits.trackedKeys) : undefined;

  const ask = (worker: Worker, message: ToWorker & { id: number }) =>
    new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(message.id);
        reject(
          new Error(`router worker ${worker.process.pid} did not answer ${message.type} within ${REPLY_TIMEOUT_MS}ms`),
        );
      }, REPLY_TIMEOUT_MS);
      pending.set(message.id, { resolve, reject, timer });
      worker.send(message);
    });

  const fork = () =>
    new Promise<AddressInfo>((resolve, reject) => {
      const worker = cluster.fork({ KANARI_ROUTER_WORKER: '1' });
      worker.on('message', (msg: FromWorker) => {
        // Messages sent before the worker listens are dropped, so it asks for its config.
        if (msg.type === 'hello') {
          worker.send({ type: 'init', service, stored, recordStats } satisfies ToWorker);
        } else if (msg.type === 'keys') {
          if (keys) replayBatch(msg.batch, keys);
        } else if (msg.type === 'ready') {
          live.add(worker);
          resolve(msg.address);
        } else {
          const waiter = pending.get(msg.id);
          if (!waiter) return;
          pending.delete(msg.id);
          clearTimeout(waiter.timer);
          waiter.resolve(msg.value);
        }
      });
      worker.once('exit', (code, signal) => {
        const served = live.delete(worker);
        if (closing) return;
        // One that never got to serve (it could not listen, say) is not replaced: its
        // replacement would fail the same way, forever.
        if (!served) return reject(new Error(`router worker exited during start (${signal ?? code})`));
        log(`router worker ${worker.process.pid} exited (${signal ?? code}); starting a replacement`);
        fork().catch((err: Error) => log(`could not replace router worker: ${err.message}`));
      });
    });

  const addresses = await Promise.all(Array.from({ length: service.workers }, fork));
  const all = <T>(make: (id: number) => ToWorker & { id: number }) =>
    Promise.all([...live].map((w) => ask(w, make(nextId++)) as Promise<T>));

  return {
    address: addresses[0]!,
    async setTable(table, revision) {
      const fresh = startsFresh(stored.table, table);
      stored = { table, revision };
      // A release ending: after every worker applied it, so what they served before counts in the old epoch.
      // A release beginning: before, so the first canary requests count in the new one.
      if (fresh && !stableOnly(table)) keys?.reset();
      await all((id) => ({ type: 'table', id, table, revision }));
      if (fresh && stableOnly(table)) keys?.reset();
    },
    snapshots: () => all<StatsSnapshot>((id) => ({ type: 'stats', id })),
    addKeys: (snapshot) => keys?.addTo(snapshot) ?? snapshot,
    async health() {
      const [first] = await all<Record<Version, EndpointHealth[]>>((id) => ({ type: 'health', id }));
      return first!;
    },
    async close() {
      closing = true;
      await Promise.all(
        [...live].map(
          (w) =>
            new Promise<void>((done) => {
              w.once('exit', () => done());
              w.process.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
