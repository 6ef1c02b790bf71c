/**
 * Where a rollout's versions run. `static` upstreams already exist and are only named;
 * `process` instances are started, watched and stopped by kanari. Instances are known by
 * id (a version, or `<stable>-baseline`), and what a restarted controller needs to adopt
 * them is handed to `persist`.
 */
import type { Instance } from '../rollout/types.js';
import { ProcessGroup, stopProcesses, type ProcessRecord } from './process.js';

export interface TargetOptions {
  logDir: string;
  /** Saves (or with undefined, forgets) what is needed to adopt an instance after a restart. */
  persist: (id: string, record: ProcessRecord | undefined) => void;
  /** Loads what a previous controller saved. */
  recall: (id: string) => ProcessRecord | undefined;
  /** An instance that was running has exited. */
  onExit: (id: string, reason: string) => void;
}

type Running = { kind: 'static'; endpoints: string[] } | { kind: 'process'; group: ProcessGroup };

export class Targets {
  private readonly running = new Map<string, Running>();
  private readonly starting = new Map<string, Promise<void>>();

  constructor(private readonly o: TargetOptions) {}

  has(id: string): boolean {
    return this.running.has(id);
  }

  isStarting(id: string): boolean {
    return this.starting.has(id);
  }

  endpoints(id: string): string[] {
    const r = this.running.get(id);
    if (!r) throw new Error(`instance ${id} is not running`);
    return r.kind === 'static' ? r.endpoints : r.group.endpoints;
  }

  /** Starts (or adopts) the instance; resolves once it is ready, rejects with the reason it is not. */
  ensure(inst: Instance): Promise<void> {
    if (this.running.has(inst.id)) return Promise.resolve();
    const pending = this.starting.get(inst.id);
    if (pending) return pending;
    const p = this.start(inst).finally(() => this.starting.delete(inst.id));
    this.starting.set(inst.id, p);
    return p;
  }

  private async start(inst: Instance): Promise<void> {
    const target = inst.release.target;
    if (target.upstreams) {
      this.running.set(inst.id, { kind: 'static', endpoints: target.upstreams });
      return;
    }
    const spec = { ...target.process!, instances: inst.count ?? target.process!.instances };
    const options = {
      id: inst.id,
      version: inst.release.version,
      spec,
      logDir: this.o.logDir,
      onExit: (reason: string) => this.exited(inst.id, reason),
      onSpawn: (record: ProcessRecord) => this.o.persist(inst.id, record),
    };
    const saved = this.o.recall(inst.id);
    let group = saved && (await ProcessGroup.adopt(options, saved));
    try {
      group ??= await ProcessGroup.start(options);
    } catch (err) {
      this.o.persist(inst.id, undefined);
      throw err;
    }
    this.running.set(inst.id, { kind: 'process', group });
    this.o.persist(inst.id, group.record);
  }

  /** How many processes a process instance runs now (undefined for static upstreams). */
  size(id: string): number | undefined {
    const r = this.running.get(id);
    return r?.kind === 'process' ? r.group.size : undefined;
  }

  /** Grows or shrinks a running process instance to `count` processes. */
  async resize(id: string, count: number): Promise<void> {
    const r = this.running.get(id);
    if (r?.kind !== 'process') throw new Error(`instance ${id} is not a running process`);
    try {
      await r.group.scaleTo(count);
    } finally {
      this.o.persist(id, r.group.record);
    }
  }

  private exited(id: string, reason: string): void {
    const r = this.running.get(id);
    this.running.delete(id);
    // The survivors stay on record: the next start adopts them and grows the group back; a removal stops them.
    this.o.persist(id, r?.kind === 'process' ? r.group.survivors : undefined);
    this.o.onExit(id, reason);
  }

  /** Stops the instance: one this controller runs, or one a previous controller left behind. */
  async remove(id: string, stopTimeout = 10_000): Promise<void> {
    await this.starting.get(id)?.catch(() => {});
    const r = this.running.get(id);
    this.running.delete(id);
    if (r?.kind === 'process') await r.group.stop();
    else if (!r) {
      const saved = this.o.recall(id);
      if (saved) await stopProcesses(saved.pids, stopTimeout);
    }
    this.o.persist(id, undefined);
  }

  /** Stops every process instance (the demo and tests; `kanari up` leaves them running for the next controller). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.remove(id)));
  }

  /** Forgets the instances without stopping them, as a controller that exits cleanly does. */
  detach(): void {
    for (const r of this.running.values()) if (r.kind === 'process') r.group.release();
    this.running.clear();
  }
}
