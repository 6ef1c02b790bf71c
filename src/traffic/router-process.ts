/**
 * kanari's router run as a process of its own for one rollout, as `kanari up` does it.
 * It is started detached, so it keeps serving its last table when the controller dies;
 * the next controller adopts it by pid; and when it exits it is started again, and comes
 * back with the table it persisted before applying it. A router that cannot start (its
 * port taken by another program) is reported as not serving, with the reason it gave.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_VERSION, type HostPort } from '../config/schemas/common.js';
import type { RolloutSpec } from '../config/schemas/rollout.js';
import type { RoutingTable } from '../config/schemas/table.js';
import { AdminClient } from '../router/client.js';
import { tokenFromFile } from '../shared/http.js';
import type { StatsSnapshot } from '../shared/stats-snapshot.js';
import { privateDir, writePrivateFile } from '../shared/files.js';
import { ownModuleCommand, ProcessGroup, type ProcessRecord } from '../targets/process.js';

export interface RouterProcessOptions {
  /** The rollout's name, which is the router's service name. */
  name: string;
  spec: Pick<RolloutSpec, 'listen' | 'sticky'>;
  /** Holds router.yaml, the admin token, the persisted table and the log. */
  dir: string;
  /** The admin endpoint's unix socket (short: a socket path has at most 107 bytes). */
  socket: string;
  /** Saves (or with undefined, forgets) the pid and admin port, for the next controller. */
  persist: (record: ProcessRecord | undefined) => void;
  recall: () => ProcessRecord | undefined;
  log: (line: string) => void;
}

/** A router that exits is started again after this long (and no more often). */
const RESTART_DELAY = 1000;
/** A router that keeps failing to start is tried at most this rarely (the delay doubles up to it). */
const MAX_RETRY_DELAY = 16_000;

/** Whether a rollout's router serves its users, and why not. */
export interface RouterHealth {
  serving: boolean;
  /** Since when it has not been serving. */
  since?: number;
  reason?: string;
  /** Serving, but something a person should know: its routing table is not saved. */
  warning?: string;
}

/**
 * At most this many routers start at once: a controller resuming hundreds of rollouts
 * would otherwise start hundreds of Node processes together, and on a small machine none
 * would be ready within its start timeout.
 */
const PARALLEL_STARTS = 4;

class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

const startSlots = new Slots(PARALLEL_STARTS);

export class RouterProcess {
  private group?: ProcessGroup;
  private client?: AdminClient;
  private starting?: Promise<AdminClient>;
  /**
   * Set once the router has been adopted or started; a restart keeps it, since the new
   * process answers on the same socket. (The client alone says nothing: the readiness
   * probe makes it before the start is known to have worked.)
   */
  private connected = false;
  private closed = false;
  private readonly token: string;
  /** Why the router is not serving, since when, and when to try starting it again; undefined while it serves. */
  private down?: { reason: string; since: number; failures: number; retryAt: number };
  /** Whether its table is saved, from its last statistics. */
  private tableStore?: StatsSnapshot['tableStore'];

  constructor(private readonly o: RouterProcessOptions) {
    privateDir(o.dir);
    this.token = tokenFromFile(join(o.dir, 'admin-token'));
  }

  /**
   * Reaches the router: adopts the one a previous controller left running, or starts it
   * with `initial` as its first table. A start that failed is tried again on a later
   * call, less and less often while it keeps failing.
   */
  connect = (initial: RoutingTable): Promise<AdminClient> => {
    if (this.connected) return Promise.resolve(this.admin());
    if (this.down && Date.now() < this.down.retryAt && !this.starting)
      return Promise.reject(new Error(`the router is not serving: ${this.down.reason}`));
    this.starting ??= this.adoptOrStart(initial)
      .catch((err: Error) => {
        throw new Error(`the router is not serving: ${this.failed(err)}`);
      })
      .finally(() => (this.starting = undefined));
    return this.starting;
  };

  /** Whether it serves users, and why not; undefined before it was first tried. */
  health(): RouterHealth | undefined {
    if (this.down) return { serving: false, since: this.down.since, reason: this.down.reason };
    if (!this.connected) return undefined;
    return {
      serving: true,
      ...(this.tableStore?.persisted === false
        ? { warning: 'it cannot save its routing table (a restart would come back on an older one); see its log' }
        : {}),
    };
  }

  /** Cumulative statistics, or undefined before the router has been reached. */
  async stats(): Promise<StatsSnapshot | undefined> {
    if (!this.connected) return undefined;
    const snapshot = await this.admin().stats();
    this.tableStore = snapshot.tableStore;
    return snapshot;
  }

  /** Stops the router (its users are refused from then on): for `kanari down --all`. */
  async stop(): Promise<void> {
    this.closed = true;
    await this.starting?.catch(() => {});
    await this.group?.stop();
    this.client?.close();
    this.o.persist(undefined);
  }

  /** Leaves the router serving, unwatched, for the next controller. */
  release(): void {
    this.closed = true;
    this.group?.release();
    this.client?.close();
  }

  private async adoptOrStart(initial: RoutingTable): Promise<AdminClient> {
    const saved = this.o.recall();
    if (saved) {
      this.group = await ProcessGroup.adopt(this.options(), saved);
      if (this.group) this.o.log(`adopted the router (pid ${saved.pids[0]}), still serving on its last table`);
    }
    if (!this.group) {
      this.writeDocument(initial);
      this.group = await this.start();
    }
    this.o.persist(this.group.record);
    this.connected = true;
    this.serving();
    return this.admin();
  }

  private serving(): void {
    if (this.down)
      this.o.log(`the router serves now (it did not for ${Math.round((Date.now() - this.down.since) / 1000)} s)`);
    this.down = undefined;
  }

  /** Records a failed start and returns why, in the router's words when it gave them; said once per reason. */
  private failed(err: Error): string {
    const reason = routerSays(join(this.o.dir, 'router-0.log')) ?? err.message;
    const failures = (this.down?.failures ?? 0) + 1;
    if (reason !== this.down?.reason) this.o.log(`the router is not serving: ${reason}`);
    this.down = {
      reason,
      since: this.down?.since ?? Date.now(),
      failures,
      retryAt: Date.now() + Math.min(MAX_RETRY_DELAY, RESTART_DELAY * 2 ** (failures - 1)),
    };
    return reason;
  }

  private async start(): Promise<ProcessGroup> {
    const group = await startSlots.run(() => ProcessGroup.start(this.options()));
    this.o.log(`router started (pid ${group.record.pids[0]}, admin on unix:${this.o.socket})`);
    return group;
  }

  private admin(): AdminClient {
    this.client ??= new AdminClient(`unix:${this.o.socket}`, this.token);
    return this.client;
  }

  /** The router went away while it was meant to serve: start it again, on its last table. */
  private async restart(reason: string): Promise<void> {
    // One that exits while it is being started fails its start instead.
    if (!this.group) return;
    this.group = undefined;
    this.o.persist(undefined);
    this.o.log(`the router ${reason}; starting it again with its last table`);
    this.down = { reason: `it ${reason}; starting it again`, since: Date.now(), failures: 0, retryAt: 0 };
    while (!this.closed) {
      await sleep(Math.max(RESTART_DELAY, this.down.retryAt - Date.now()));
      if (this.closed) return;
      try {
        this.group = await this.start();
        this.o.persist(this.group.record);
        this.serving();
        return;
      } catch (err) {
        this.failed(err as Error);
      }
    }
  }

  private options() {
    return {
      id: 'router',
      version: 'router',
      logDir: this.o.dir,
      spec: {
        command: ownModuleCommand(
          new URL(`../cli/entry.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url),
          ['router', '-f', this.documentPath],
        ),
        port: 0,
        instances: 1,
        env: {},
        readiness: '/healthz',
        startTimeout: 30_000,
        stopTimeout: 15_000,
      },
      // Ready once it answers on its socket with its table, to its token.
      probe: async () => {
        await this.admin().table();
        return undefined;
      },
      onExit: (reason: string) => void this.restart(reason.replace(/^instance 0 /, '')),
    };
  }

  private get documentPath(): string {
    return join(this.o.dir, 'router.yaml');
  }

  /**
   * The Router file the process serves (JSON is YAML). `table` is only its first table:
   * a router that has been given one since starts from the table it persisted.
   */
  private writeDocument(table: RoutingTable): void {
    const doc = {
      apiVersion: API_VERSION,
      kind: 'Router',
      metadata: { name: this.o.name },
      spec: {
        listen: hostPort(this.o.spec.listen),
        admin: { listen: `unix:${this.o.socket}`, tokenFile: 'admin-token' },
        state: 'router-table.json',
        ...(this.o.spec.sticky ? { sticky: this.o.spec.sticky } : {}),
        table,
      },
    };
    writePrivateFile(this.documentPath, JSON.stringify(doc, null, 2) + '\n');
  }
}

/**
 * What a router that could not start said about it: the last line of its log when that
 * is kanari's own reason (`kanari router: cannot listen on …`), not a crash's stack.
 */
function routerSays(log: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(log, 'r');
    const size = statSync(log).size;
    const tail = Buffer.alloc(Math.min(size, 4096));
    readSync(fd, tail, 0, tail.length, size - tail.length);
    const last = tail.toString('utf8').trimEnd().split('\n').at(-1) ?? '';
    return /^kanari router: (cannot .*)$/.exec(last)?.[1];
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function hostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
