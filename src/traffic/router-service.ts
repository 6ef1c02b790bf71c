/**
 * One rollout's service on the shared router process: added (its listener opened) the
 * first time the rollout writes traffic, read for statistics every round, removed when the
 * rollout's listener changes. The router keeps every service it was given across its own
 * restarts; a service that could not open (its port taken) is added again on a later round.
 */
import type { RolloutSpec } from '../config/schemas/rollout.js';
import type { RoutingTable } from '../config/schemas/table.js';
import { AdminError, type AdminClient } from '../router/client.js';
import type { StatsSnapshot } from '../shared/stats-snapshot.js';
import type { RouterHealth, RouterProcess, RouterRecord } from './router-process.js';

export interface RouterServiceOptions {
  /** The rollout's name, which is its service's name. */
  name: string;
  spec: Pick<RolloutSpec, 'listen' | 'sticky'>;
  router: RouterProcess;
  /** Saves (or with undefined, forgets) the router's pid under this rollout, for people and tests reading the store. */
  persist: (record: RouterRecord | undefined) => void;
  log: (line: string) => void;
}

/** A service that could not be added is tried again after this long, doubling up to 16 s. */
const RETRY_MS = 1000;
const MAX_RETRY_MS = 16_000;
/** How long a removed service's requests in flight may take to finish. */
const REMOVE_GRACE_MS = 10_000;

export class RouterService {
  private client?: AdminClient;
  private adding?: Promise<AdminClient>;
  /** Why the service is not serving, since when, and when to add it again. */
  private down?: { reason: string; since: number; failures: number; retryAt: number };
  /** Whether its table is saved, from its last statistics. */
  private tableStore?: StatsSnapshot['tableStore'];
  private readonly unwatch: () => void;

  constructor(private readonly o: RouterServiceOptions) {
    this.unwatch = o.router.onRecord((record) => o.persist(record));
  }

  /** Reaches the service, adding it with `initial` as its first table if the router does not serve it yet. */
  connect = (initial: RoutingTable): Promise<AdminClient> => {
    if (this.client) return Promise.resolve(this.client);
    if (this.down && Date.now() < this.down.retryAt && !this.adding)
      return Promise.reject(new Error(`the router is not serving ${this.o.name}: ${this.down.reason}`));
    this.adding ??= this.add(initial).finally(() => (this.adding = undefined));
    return this.adding;
  };

  health(): RouterHealth | undefined {
    const process = this.o.router.health();
    if (process && !process.serving) return process;
    if (this.down) return { serving: false, since: this.down.since, reason: this.down.reason };
    if (!this.client) return undefined;
    return {
      serving: true,
      ...(this.tableStore?.persisted === false
        ? { warning: 'it cannot save its routing table (a restart would come back on an older one); see its log' }
        : {}),
    };
  }

  /** Cumulative statistics, or undefined before the service has been reached. */
  async stats(): Promise<StatsSnapshot | undefined> {
    if (!this.client) return undefined;
    try {
      const snapshot = await this.client.stats();
      this.tableStore = snapshot.tableStore;
      return snapshot;
    } catch (err) {
      // The router came back without it (its port was taken meanwhile): add it again next round.
      if (err instanceof AdminError && (err.status === 404 || err.status === 503)) this.client = undefined;
      throw err;
    }
  }

  /** Removes the service: its listener closes once requests in flight finish. */
  async stop(): Promise<void> {
    this.unwatch();
    await this.adding?.catch(() => {});
    if (!this.client) return;
    this.client = undefined;
    const root = await this.o.router.connect();
    await root.removeService(this.o.name, REMOVE_GRACE_MS).catch((err: Error) => {
      if (!(err instanceof AdminError && err.status === 404)) throw err;
    });
    this.o.persist(undefined);
  }

  /** Leaves the service serving for the next controller. */
  release(): void {
    this.unwatch();
  }

  private async add(initial: RoutingTable): Promise<AdminClient> {
    const { name, spec } = this.o;
    const service = {
      listen: hostPort(spec.listen),
      ...(spec.sticky ? { sticky: stickyInput(spec.sticky) } : {}),
      table: initial,
    };
    try {
      const root = await this.o.router.connect();
      try {
        await root.addService(name, service);
      } catch (err) {
        // Another listener or sticky than the router has (the file changed while no controller ran).
        if (!(err instanceof AdminError && err.status === 409)) throw err;
        this.o.log(`the router serves ${name} with another listener; replacing it`);
        await root.removeService(name, REMOVE_GRACE_MS);
        await root.addService(name, service);
      }
      if (this.down) this.o.log(`the router serves ${name} now`);
      this.down = undefined;
      this.client = root.forService(name);
      return this.client;
    } catch (err) {
      const reason = (err instanceof AdminError ? err.reason : undefined) ?? (err as Error).message;
      const failures = (this.down?.failures ?? 0) + 1;
      if (reason !== this.down?.reason) this.o.log(`the router is not serving ${name}: ${reason}`);
      this.down = {
        reason,
        since: this.down?.since ?? Date.now(),
        failures,
        retryAt: Date.now() + Math.min(MAX_RETRY_MS, RETRY_MS * 2 ** (failures - 1)),
      };
      throw new Error(`the router is not serving ${name}: ${reason}`, { cause: err });
    }
  }
}

function hostPort(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** Sticky as a file writes it (the loaded form is the same but for nothing set). */
function stickyInput(sticky: NonNullable<RolloutSpec['sticky']>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(sticky).filter(([, v]) => v !== undefined));
}
