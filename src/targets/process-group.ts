/**
 * Processes kanari runs from a command, one per instance, each told its port in $PORT.
 * Processes run in their own process group with output to a log file, so they outlive a
 * controller that is killed; a restarted controller adopts them by pid instead of starting
 * them again. The `process` target (process.ts) and the router process are built on it.
 */
import { spawn } from 'node:child_process';
import { closeSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProcessTarget } from '../config/schemas/rollout.js';
import { openPrivateLog, privateDir } from '../shared/files.js';

export interface ProcessRecord {
  pids: number[];
  ports: number[];
  /**
   * When each process started (clock ticks since boot, from /proc; absent where unknown):
   * a pid is reused once its process is gone — within minutes on a busy host with Linux's
   * default 32,768 — and a recorded pid whose start differs is someone else's, never signalled.
   */
  starts?: number[];
}

export interface ProcessOptions {
  id: string;
  version: string;
  spec: ProcessTarget;
  logDir: string;
  /** Called once if any instance exits (or disappears) while it is meant to run. */
  onExit: (reason: string) => void;
  /**
   * Readiness checked some other way than GET `readiness` on each port: resolves
   * undefined once ready, or why not yet (the router process, whose admin is a socket).
   */
  probe?: () => Promise<string | undefined>;
  /**
   * Called as soon as processes are spawned, before they are ready, so a controller killed
   * while they start knows to adopt or stop them rather than leave them running unknown.
   */
  onSpawn?: (record: ProcessRecord) => void;
  /**
   * How long a process found running may take to answer before it is taken for hung and
   * stopped (default: its start timeout, at most 5 s).
   */
  adoptTimeout?: number;
}

const POLL_MS = 200;

export class ProcessGroup {
  private readonly pids: number[] = [];
  private readonly starts: (number | undefined)[] = [];
  private readonly ports: number[] = [];
  private stopping = false;
  /** Processes stopped on purpose by `scaleTo`, whose exit is not a crash. */
  private readonly retired = new Set<number>();
  private exited = false;
  private watch?: NodeJS.Timeout;

  private constructor(private readonly o: ProcessOptions) {}

  get record(): ProcessRecord {
    return recordOf(this.pids, this.ports, this.starts);
  }

  get endpoints(): string[] {
    return this.ports.map((p) => `http://127.0.0.1:${p}`);
  }

  /** Starts every instance and resolves once each answers its readiness path; rejects with the reason otherwise. */
  static async start(o: ProcessOptions): Promise<ProcessGroup> {
    const g = new ProcessGroup(o);
    privateDir(o.logDir);
    try {
      await g.spawnUpTo(o.spec.instances);
    } catch (err) {
      await g.stop();
      throw err;
    }
    g.startWatching();
    return g;
  }

  /** Takes over processes a previous controller started, if they are all still alive and ready. */
  static async adopt(o: ProcessOptions, record: ProcessRecord): Promise<ProcessGroup | undefined> {
    if (record.pids.length === 0 || !record.pids.every((pid, i) => alive(pid, record.starts?.[i]))) return undefined;
    const g = new ProcessGroup(o);
    g.pids.push(...record.pids);
    g.starts.push(...record.pids.map((_, i) => record.starts?.[i]));
    g.ports.push(...record.ports);
    try {
      await g.waitReady(o.adoptTimeout ?? Math.min(o.spec.startTimeout, 5000));
    } catch {
      await g.stop();
      return undefined;
    }
    g.startWatching();
    return g;
  }

  get size(): number {
    return this.pids.length;
  }

  /**
   * Grows or shrinks the group to `n` processes (a rolling update): new ones are ready when
   * this resolves; the last ones are stopped first, so the router, which uses the first N,
   * has already stopped sending them anything.
   */
  async scaleTo(n: number): Promise<void> {
    if (n > this.pids.length) {
      await this.spawnUpTo(n);
      return;
    }
    const pids = this.pids.splice(n);
    const starts = this.starts.splice(n);
    this.ports.splice(n);
    for (const pid of pids) this.retired.add(pid);
    await stopProcesses(pids, this.o.spec.stopTimeout, starts);
  }

  private async spawnUpTo(n: number): Promise<void> {
    const fresh: number[] = [];
    for (let i = this.pids.length; i < n; i++) {
      const port = this.o.spec.port === 0 ? await freePort() : this.o.spec.port + i;
      this.ports.push(port);
      const pid = this.spawnOne(port, i);
      this.pids.push(pid);
      this.starts.push(startOf(pid));
      fresh.push(port);
    }
    this.o.onSpawn?.(this.record);
    await this.waitReady(this.o.spec.startTimeout, fresh);
  }

  private spawnOne(port: number, index: number): number {
    // What a version prints can hold its secrets: its owner's alone.
    const log = openPrivateLog(join(this.o.logDir, `${this.o.id}-${index}.log`));
    try {
      const child = spawn('/bin/sh', ['-c', this.o.spec.command], {
        cwd: this.o.spec.cwd,
        env: {
          ...process.env,
          ...this.o.spec.env,
          PORT: String(port),
          KANARI_VERSION: this.o.version,
          KANARI_INSTANCE: String(index),
        },
        detached: true,
        stdio: ['ignore', log, log],
      });
      child.unref();
      if (child.pid === undefined) throw new Error(`could not start "${this.o.spec.command}"`);
      const pid = child.pid;
      child.once('exit', (code, signal) => {
        if (!this.retired.delete(pid)) this.lost(`instance ${index} exited with ${signal ?? `code ${code}`}`);
      });
      return pid;
    } finally {
      closeSync(log);
    }
  }

  private async waitReady(timeout = this.o.spec.startTimeout, ports: readonly number[] = this.ports): Promise<void> {
    const deadline = Date.now() + timeout;
    const pending = new Set(ports);
    let last = '';
    while (pending.size > 0) {
      if (this.exited)
        throw new Error(
          `${this.o.id} ${last || 'exited before it was ready'} (log: ${join(this.o.logDir, `${this.o.id}-0.log`)})`,
        );
      if (this.o.probe) {
        const why = await this.o.probe().catch((err: Error) => err.message);
        if (why === undefined) pending.clear();
        else last = why;
      }
      for (const port of this.o.probe ? [] : [...pending]) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}${this.o.spec.readiness}`, {
            signal: AbortSignal.timeout(1000),
          });
          // The answer is not used; an endless one must not hang the check, so it is not read at all.
          await res.body?.cancel();
          if (res.ok) pending.delete(port);
          else last = `answered ${res.status} on ${this.o.spec.readiness}`;
        } catch (err) {
          last = `not answering on port ${port}: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`;
        }
      }
      if (pending.size === 0) return;
      if (Date.now() > deadline) throw new Error(`${this.o.id} was not ready within ${timeout / 1000} s: ${last}`);
      await sleep(POLL_MS);
    }
  }

  /** An adopted process is not our child, so its exit is noticed by polling. */
  private startWatching(): void {
    this.watch = setInterval(() => {
      const dead = this.pids.findIndex((p, i) => !alive(p, this.starts[i]));
      if (dead >= 0) this.lost(`instance ${dead} (pid ${this.pids[dead]}) is gone`);
    }, 1000);
    this.watch.unref();
  }

  private lost(reason: string): void {
    if (this.stopping || this.exited) return;
    this.exited = true;
    clearInterval(this.watch);
    this.o.onExit(reason);
  }

  /**
   * The processes still alive after one was lost: a group that lost an instance is
   * reported as gone, and its survivors are what the next start adopts (and grows back)
   * or what a rollback stops, so none is left running unknown.
   */
  get survivors(): ProcessRecord | undefined {
    const keep = this.pids.map((_, i) => i).filter((i) => alive(this.pids[i]!, this.starts[i]));
    return keep.length > 0
      ? recordOf(
          keep.map((i) => this.pids[i]!),
          keep.map((i) => this.ports[i]!),
          keep.map((i) => this.starts[i]),
        )
      : undefined;
  }

  /** Lets the processes run on unwatched, for the next controller to adopt. */
  release(): void {
    this.stopping = true;
    clearInterval(this.watch);
  }

  /** SIGTERM to each instance's process group; SIGKILL after `stopTimeout`. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.watch);
    await stopProcesses(this.pids, this.o.spec.stopTimeout, this.starts);
  }
}

function recordOf(pids: number[], ports: number[], starts: readonly (number | undefined)[]): ProcessRecord {
  const known = starts.length === pids.length && starts.every((s) => s !== undefined);
  return { pids: [...pids], ports: [...ports], ...(known ? { starts: [...starts] as number[] } : {}) };
}

/**
 * Stops processes known only by their pids: those a previous controller started and this
 * one must stop without having adopted them (a rollback it resumed half-way).
 */
export async function stopProcesses(
  pids: readonly number[],
  stopTimeout: number,
  starts: readonly (number | undefined)[] = [],
): Promise<void> {
  const running = () => pids.some((pid, i) => alive(pid, starts[i]));
  pids.forEach((pid, i) => signal(pid, 'SIGTERM', starts[i]));
  const deadline = Date.now() + stopTimeout;
  while (running() && Date.now() < deadline) await sleep(50);
  pids.forEach((pid, i) => signal(pid, 'SIGKILL', starts[i]));
  while (running()) await sleep(20);
}

/**
 * Signals the process group `pid` leads, or the process alone. Not when `pid` now names a
 * process that started at another time than `start`: then ours is gone, and so is its
 * group (Linux does not reuse a pid while a group still goes by it).
 */
export function signal(pid: number, sig: NodeJS.Signals, start?: number): void {
  if (start !== undefined && reused(pid, start)) return;
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

/** Whether a process with this pid exists (and, given `start`, is the one that started then). */
export function alive(pid: number, start?: number): boolean {
  if (start !== undefined && reused(pid, start)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** When process `pid` started, in clock ticks since boot (field 22 of /proc/PID/stat); undefined where unknown. */
export function startOf(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces and ')': fields 3.. follow the last ')'.
  const start = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  return Number.isSafeInteger(start) ? start : undefined;
}

/** Whether `pid` names a process other than the one that started at `start`. */
function reused(pid: number, start: number): boolean {
  const now = startOf(pid);
  return now !== undefined && now !== start;
}

/** A free loopback port (there is a small race between closing it and its next use). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A shell command that runs one of kanari's own modules with this Node: the built `.js`
 * file, or under tsx the `.ts` source (tests and `npm run` from a checkout).
 */
export function ownModuleCommand(moduleUrl: URL, args: string[]): string {
  const fromSource = moduleUrl.pathname.endsWith('.ts');
  // tsx by its full path: the command may run in any directory.
  const node = [
    process.execPath,
    ...(fromSource ? ['--import', import.meta.resolve('tsx')] : []),
    fileURLToPath(moduleUrl),
    ...args,
  ];
  return `exec ${node.map(shellQuote).join(' ')}`;
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
