/**
 * kanari's router run as one process of its own for every rollout, as `kanari up` does
 * it (a SharedRouter: each rollout is one service on its own listener). It is started
 * detached, so it keeps serving every service's last table when the controller dies; the
 * next controller adopts it by pid once it answers; and when it exits it is started again,
 * and comes back with every service and the table each persisted before applying it. A
 * router that cannot start is reported as not serving, with the reason it gave.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_VERSION } from '../config/schemas/common.js';
import { AdminClient } from '../router/client.js';
import { tokenFromFile } from '../shared/http.js';
import { privateDir, writePrivateFile } from '../shared/files.js';
import { ownModuleCommand, ProcessGroup, type ProcessRecord } from '../targets/process.js';

/** How long the router may take to start, or, found running, to answer. */
const ROUTER_START_MS = 30_000;

/** The router process's pid, as the next controller adopts it by. */
export type RouterRecord = ProcessRecord;

export interface RouterProcessOptions {
  /** Holds router.yaml, the admin token, services/<name>/ (each table) and the log. */
  dir: string;
  /** The admin endpoint's unix socket (short: a socket path has at most 107 bytes). */
  socket: string;
  /** Saves (or with undefined, forgets) its pid, for the next controller. */
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
  /** Called with the process's record each time it is started or adopted. */
  private readonly watchers = new Set<(record: ProcessRecord) => void>();

  constructor(private readonly o: RouterProcessOptions) {
    privateDir(o.dir);
    this.token = tokenFromFile(join(o.dir, 'admin-token'));
  }

  /**
   * Reaches the router: adopts the one a previous controller left running, or starts it.
   * A start that failed is tried again on a later call, less and less often while it keeps failing.
   */
  connect = (): Promise<AdminClient> => {
    if (this.connected) return Promise.resolve(this.admin());
    if (this.down && Date.now() < this.down.retryAt && !this.starting)
      return Promise.reject(new Error(`the router is not serving: ${this.down.reason}`));
    this.starting ??= this.adoptOrStart()
      .catch((err: Error) => {
        throw new Error(`the router is not serving: ${this.failed(err)}`);
      })
      .finally(() => (this.starting = undefined));
    return this.starting;
  };

  /** Whether it serves, and why not; undefined before it was first tried. */
  health(): RouterHealth | undefined {
    if (this.down) return { serving: false, since: this.down.since, reason: this.down.reason };
    if (!this.connected) return undefined;
    return { serving: true };
  }

  /** Tells `watch` the process's record now (if it runs) and after every restart. */
  onRecord(watch: (record: ProcessRecord) => void): () => void {
    this.watchers.add(watch);
    if (this.group && this.connected) watch(this.group.record);
    return () => this.watchers.delete(watch);
  }

  /** Stops the router (every service's users are refused from then on): for `kanari down --all`. */
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

  private async adoptOrStart(): Promise<AdminClient> {
    const saved = this.o.recall();
    if (saved) {
      this.group = await ProcessGroup.adopt(this.options(), saved);
      if (this.group) this.o.log(`adopted the router (pid ${saved.pids[0]}), still serving on its last tables`);
    }
    if (!this.group) {
      this.writeDocument();
      this.group = await this.start();
    }
    this.connected = true;
    this.serving(this.group);
    return this.admin();
  }

  private serving(group: ProcessGroup): void {
    if (this.down)
      this.o.log(`the router serves now (it did not for ${Math.round((Date.now() - this.down.since) / 1000)} s)`);
    this.down = undefined;
    this.o.persist(group.record);
    for (const watch of this.watchers) watch(group.record);
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
    const group = await ProcessGroup.start(this.options());
    this.o.log(`router started (pid ${group.record.pids[0]}, admin on unix:${this.o.socket})`);
    return group;
  }

  private admin(): AdminClient {
    // Every rollout's rounds share these connections: enough that 200 of them do not queue behind 4.
    this.client ??= new AdminClient(
      `unix:${this.o.socket}`,
      this.token,
      5000,
      '',
      new http.Agent({ keepAlive: true, maxSockets: 32 }),
    );
    return this.client;
  }

  /** The router went away while it was meant to serve: start it again; it reopens every service. */
  private async restart(reason: string): Promise<void> {
    // One that exits while it is being started fails its start instead.
    if (!this.group) return;
    this.group = undefined;
    this.o.persist(undefined);
    this.o.log(`the router ${reason}; starting it again with every service's last table`);
    this.down = { reason: `it ${reason}; starting it again`, since: Date.now(), failures: 0, retryAt: 0 };
    while (!this.closed) {
      await sleep(Math.max(RESTART_DELAY, this.down.retryAt - Date.now()));
      if (this.closed) return;
      try {
        this.group = await this.start();
        this.serving(this.group);
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
        startTimeout: ROUTER_START_MS,
        stopTimeout: 15_000,
      },
      // Ready once it answers on its socket, to its token.
      probe: async () => {
        await this.admin().services();
        return undefined;
      },
      onExit: (reason: string) => void this.restart(reason.replace(/^instance 0 /, '')),
      // One router carries every rollout's users: one slow to answer on a loaded host is waited
      // for as long as it may take to start, not stopped after the 5 s an instance gets.
      adoptTimeout: ROUTER_START_MS,
    };
  }

  private get documentPath(): string {
    return join(this.o.dir, 'router.yaml');
  }

  /** The SharedRouter file the process serves (JSON is YAML); its services are added over the admin API. */
  private writeDocument(): void {
    const doc = {
      apiVersion: API_VERSION,
      kind: 'SharedRouter',
      metadata: { name: 'kanari-up' },
      spec: { admin: { listen: `unix:${this.o.socket}`, tokenFile: 'admin-token' }, stateDir: '.' },
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
