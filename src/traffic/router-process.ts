/**
 * kanari's router run as a process of its own for one rollout, as `kanari up` does it.
 * It is started detached, so it keeps serving its last table when the controller dies;
 * the next controller adopts it by pid; and when it exits it is started again, and comes
 * back with the table it persisted before applying it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_VERSION, type HostPort } from '../config/schemas/common.js';
import type { RolloutSpec } from '../config/schemas/rollout.js';
import type { RoutingTable } from '../config/schemas/table.js';
import { AdminClient } from '../router/client.js';
import type { StatsSnapshot } from '../router/stats.js';
import { freePort, ownModuleCommand, ProcessGroup, type ProcessRecord } from '../targets/process.js';

export interface RouterProcessOptions {
  /** The rollout's name, which is the router's service name. */
  name: string;
  spec: Pick<RolloutSpec, 'listen' | 'sticky'>;
  /** Holds router.yaml, the admin token, the persisted table and the log. */
  dir: string;
  /** Saves (or with undefined, forgets) the pid and admin port, for the next controller. */
  persist: (record: ProcessRecord | undefined) => void;
  recall: () => ProcessRecord | undefined;
  log: (line: string) => void;
}

/** A router that exits is started again after this long (and no more often). */
const RESTART_DELAY = 1000;

export class RouterProcess {
  private group?: ProcessGroup;
  private client?: AdminClient;
  private starting?: Promise<AdminClient>;
  private closed = false;
  private adminPort?: number;
  private readonly tokenFile: string;

  constructor(private readonly o: RouterProcessOptions) {
    mkdirSync(o.dir, { recursive: true });
    this.tokenFile = join(o.dir, 'admin-token');
    if (!existsSync(this.tokenFile)) writeFileSync(this.tokenFile, randomBytes(24).toString('base64url') + '\n', { mode: 0o600 });
  }

  /** The router's pid, once it runs. */
  get pid(): number | undefined {
    return this.group?.record.pids[0];
  }

  /** Reaches the router: adopts the one a previous controller left running, or starts it with `initial` as its first table. */
  connect = (initial: RoutingTable): Promise<AdminClient> => {
    if (this.client) return Promise.resolve(this.client);
    this.starting ??= this.adoptOrStart(initial).finally(() => (this.starting = undefined));
    return this.starting;
  };

  /** Cumulative statistics, or undefined before the router has been reached. */
  async stats(): Promise<StatsSnapshot | undefined> {
    return this.client?.stats();
  }

  /** Stops the router (its users are refused from then on): for `kanari down --all`. */
  async stop(): Promise<void> {
    this.closed = true;
    await this.starting?.catch(() => {});
    await this.group?.stop();
    this.o.persist(undefined);
  }

  /** Leaves the router serving, unwatched, for the next controller. */
  release(): void {
    this.closed = true;
    this.group?.release();
  }

  private async adoptOrStart(initial: RoutingTable): Promise<AdminClient> {
    const saved = this.o.recall();
    if (saved) {
      this.group = await ProcessGroup.adopt(this.options(saved.ports[0]!), saved);
      if (this.group) this.o.log(`adopted the router (pid ${saved.pids[0]}), still serving on its last table`);
    }
    if (!this.group) {
      this.adminPort ??= saved?.ports[0] ?? (await freePort());
      this.writeDocument(this.adminPort, initial);
      this.group = await this.start(this.adminPort);
    }
    this.o.persist(this.group.record);
    this.client = new AdminClient(`http://127.0.0.1:${this.group.record.ports[0]}`, readFileSync(this.tokenFile, 'utf8').trim());
    return this.client;
  }

  private async start(adminPort: number): Promise<ProcessGroup> {
    const group = await ProcessGroup.start(this.options(adminPort));
    this.o.log(`router started (pid ${group.record.pids[0]}, admin on 127.0.0.1:${adminPort})`);
    return group;
  }

  /** The router went away while it was meant to serve: start it again on the same admin port. */
  private async restart(reason: string): Promise<void> {
    // One that exits while it is being started fails its start instead.
    if (!this.group) return;
    const port = this.group.record.ports[0];
    this.group = undefined;
    this.o.persist(undefined);
    this.o.log(`the router ${reason}; starting it again with its last table`);
    for (let attempt = 1; !this.closed && port !== undefined; attempt++) {
      await sleep(RESTART_DELAY);
      if (this.closed) return;
      try {
        this.group = await this.start(port);
        this.o.persist(this.group.record);
        return;
      } catch (err) {
        if (attempt % 10 === 1) this.o.log(`the router did not start again: ${(err as Error).message}`);
      }
    }
  }

  private options(adminPort: number) {
    return {
      id: 'router',
      version: 'router',
      logDir: this.o.dir,
      spec: {
        command: ownModuleCommand(new URL(`../cli/entry.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url), ['router', '-f', this.documentPath]),
        port: adminPort,
        instances: 1,
        env: {},
        readiness: '/healthz',
        startTimeout: 30_000,
        stopTimeout: 15_000,
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
  private writeDocument(adminPort: number, table: RoutingTable): void {
    const doc = {
      apiVersion: API_VERSION,
      kind: 'Router',
      metadata: { name: this.o.name },
      spec: {
        listen: hostPort(this.o.spec.listen),
        admin: { listen: `127.0.0.1:${adminPort}`, tokenFile: 'admin-token' },
        state: 'router-table.json',
        ...(this.o.spec.sticky ? { sticky: this.o.spec.sticky } : {}),
        table,
      },
    };
    writeFileSync(this.documentPath, JSON.stringify(doc, null, 2) + '\n');
  }
}

function hostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
