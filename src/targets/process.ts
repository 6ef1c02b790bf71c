/**
 * The `process` target: kanari starts a version from a command, watches it and stops it.
 * What a restarted controller needs to adopt an instance (its pids and ports) is handed to
 * `persist` as soon as the processes are spawned, and read back with `recall`.
 */
import type { TargetSpec } from '../config/schemas/rollout.js';
import type { DeploymentTarget, InstanceRequest, Readiness, TargetEvents } from '../rollout/seams/targets.js';
import { ProcessGroup, stopProcesses, type ProcessRecord } from './process-group.js';

// The router process and tests use these from here; they live with the group.
export {
  alive,
  freePort,
  ownModuleCommand,
  shellQuote,
  signal,
  startOf,
  stopProcesses,
  ProcessGroup,
} from './process-group.js';
export type { ProcessRecord } from './process-group.js';

export interface ProcessTargetOptions {
  /** Where each instance's output goes. */
  logDir: string;
  /** Saves (or with undefined, forgets) what is needed to adopt an instance after a restart. */
  persist: (id: string, record: ProcessRecord | undefined) => void;
  /** Loads what a previous controller saved. */
  recall: (id: string) => ProcessRecord | undefined;
  /** How long a leftover instance (known only by its saved pids) gets between SIGTERM and SIGKILL. */
  leftoverStopTimeout?: number;
}

export class ProcessTarget implements DeploymentTarget {
  readonly kind = 'process';
  readonly resizes = true;
  private readonly running = new Map<string, ProcessGroup>();
  private readonly starting = new Map<string, Promise<void>>();

  constructor(
    private readonly o: ProcessTargetOptions,
    private readonly events: TargetEvents,
  ) {}

  accepts(target: TargetSpec): boolean {
    return target.process !== undefined;
  }

  readiness(id: string): Readiness {
    const group = this.running.get(id);
    if (group) return { state: 'ready', endpoints: group.endpoints, size: group.size };
    return this.starting.has(id) ? { state: 'starting' } : { state: 'absent' };
  }

  ensure(instance: InstanceRequest): Promise<void> {
    if (this.running.has(instance.id)) return Promise.resolve();
    const pending = this.starting.get(instance.id);
    if (pending) return pending;
    const p = this.start(instance).finally(() => this.starting.delete(instance.id));
    this.starting.set(instance.id, p);
    return p;
  }

  private async start(instance: InstanceRequest): Promise<void> {
    const { id } = instance;
    const options = {
      id,
      version: instance.version,
      spec: { ...instance.target.process!, instances: instance.size },
      logDir: this.o.logDir,
      onExit: (reason: string) => this.exited(id, reason),
      onSpawn: (record: ProcessRecord) => this.o.persist(id, record),
    };
    const saved = this.o.recall(id);
    let group = saved && (await ProcessGroup.adopt(options, saved));
    try {
      group ??= await ProcessGroup.start(options);
    } catch (err) {
      this.o.persist(id, undefined);
      throw err;
    }
    this.running.set(id, group);
    this.o.persist(id, group.record);
  }

  async resize(id: string, size: number): Promise<void> {
    const group = this.running.get(id);
    if (!group) throw new Error(`instance ${id} is not a running process`);
    try {
      await group.scaleTo(size);
    } finally {
      this.o.persist(id, group.record);
    }
  }

  private exited(id: string, reason: string): void {
    const group = this.running.get(id);
    this.running.delete(id);
    // The survivors stay on record: the next start adopts them and grows the group back; a removal stops them.
    this.o.persist(id, group?.survivors);
    this.events.exited(id, reason);
  }

  async remove(id: string): Promise<void> {
    await this.starting.get(id)?.catch(() => {});
    const group = this.running.get(id);
    this.running.delete(id);
    if (group) await group.stop();
    else {
      const saved = this.o.recall(id);
      if (saved) await stopProcesses(saved.pids, this.o.leftoverStopTimeout ?? 10_000, saved.starts);
    }
    this.o.persist(id, undefined);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.remove(id)));
  }

  detach(): void {
    for (const group of this.running.values()) group.release();
    this.running.clear();
  }
}
