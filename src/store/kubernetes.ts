/**
 * A rollout's status kept where Kubernetes users look for it: the Rollout resource's
 * status subresource. The engine writes its status synchronously (the `StatusStore` seam);
 * this store keeps it in memory at once and writes it to the resource behind, one write
 * at a time, always the newest, each at the resourceVersion last read. The engine asks
 * `durable()` before it acts on a transition that moves users forward, so nothing moves
 * forward that a restarted operator would not resume from; a rollback does not wait.
 *
 * Fencing: every status write stamps `status.writer` with this replica, its lease term and
 * a sequence number (kubernetes-writer.ts). On a conflict the resource is read again: if a
 * later leader (or another of the same term) has written the status since, this one has
 * lost the rollout (a leader paused past its lease) and stops writing (`onLost`); if the
 * write found is an earlier term's (the old leader's last, landing after this one took
 * over) or only the spec or metadata changed, the write is retried over it.
 *
 * A store is closed with its runner (`close()`: one last write, which the lease's fence
 * refuses once the leadership is over) or at the first write that fence refuses: it writes
 * nothing more, not even what it still holds, so nothing a replica computed in one term
 * lands in a later one; the next leader resumes from the resource.
 *
 * Transitions are also reported as Kubernetes Events on the Rollout (best effort, never
 * waited on): what `kubectl describe rollout` shows.
 *
 * Running analyses keep their judge's state in `status.runs` (without measurements, which
 * stay in memory; `kubernetes-run-state.ts`), written with the status and at least every
 * RUN_WRITE_MS while they run: a new leader resumes each test where it was, and its count
 * source reads again from Prometheus what came after (`kubernetes-runs.ts`).
 */
import { describeRef, KubeConflict, type KubeClient, type KubeObject, type ObjectRef } from '../kube/api.js';
import type { EventRecord, StatusStore, StoredRollout } from '../rollout/seams/store.js';
import type { RolloutStatus } from '../rollout/types.js';
import type { AnalysisRunState } from '../analysis/run.js';
import { describeSystemError } from '../shared/system.js';
import { isNotActing } from '../shared/not-acting.js';
import type { CommandAnswer } from '../kube/commands.js';
import { judgeStamp, lastWrites, readStamp, sameStamp, stamp, type WriterStamp } from './kubernetes-writer.js';
import { compactRun, RUN_STATE_BUDGET, savedRuns } from './kubernetes-run-state.js';
import {
  conditionsOf,
  refusedConditions,
  stepsOf,
  summaryOf,
  type Condition,
  type RolloutConditions,
} from './kubernetes-status.js';

export interface KubeStatusOptions {
  client: KubeClient;
  /** The Rollout resource, as read when the operator took the rollout on. */
  resource: KubeObject;
  /** This operator replica (its lease identity): written in `status.writer`. */
  identity: string;
  /** The lease term it leads in, written beside its identity (none: stamps without one, judged as before terms). */
  term?: number;
  /** Another replica has written this rollout's status: stop acting on it. */
  onLost: (why: string) => void;
  log: (line: string) => void;
  /** Events to the Kubernetes Event API (omitted in tests that do not look at them). */
  events?: (rows: readonly EventRecord[]) => void;
}

/** What kanari writes under the Rollout's `.status`. */
export interface ResourceStatus extends RolloutConditions {
  phase: string;
  weight: number;
  step: string;
  message: string;
  observedGeneration?: number;
  writer: WriterStamp;
  /** The answer to the last command a person sent through the resource's annotation. */
  command?: CommandAnswer;
  /** The AnalysisTemplate resources' specs, as read when the release started: what a new leader judges it with. */
  templates?: Record<string, unknown>;
  /** The engine's whole status: what a restarted operator resumes from. */
  state: RolloutStatus;
  /** Each running analysis's state without its measurements, by run id. */
  runs?: Record<string, AnalysisRunState>;
}

/** How often a running analysis's state is written when nothing else is (ms). */
export const RUN_WRITE_MS = 10_000;

export class KubeStatusStore implements StatusStore {
  private stored?: StoredRollout;
  private readonly ref: ObjectRef;
  private resourceVersion: string | undefined;
  private generation: number | undefined;
  private seq: number;
  /** Bumped by every change in memory; `written` is the last one on the resource. */
  private version = 0;
  private written = 0;
  private writing?: Promise<void>;
  private waiters: { version: number; resolve: () => void }[] = [];
  private lost = false;
  /** Closed with the leadership it wrote in: nothing more is written. */
  private closed = false;
  private lastError?: string;
  private conditions: Condition[] = [];
  private command?: CommandAnswer;
  private refusal?: string;
  private pinned?: Record<string, unknown>;
  /** The stamp the resource held when this replica took the rollout on: the previous leader's, not a rival's. */
  private readonly takenOver?: WriterStamp;
  /** The last earlier leader's late write said in the log (once each). */
  private lateSaid?: WriterStamp;
  /** Running analyses' states, as last saved; written with the status. */
  private runs: Record<string, AnalysisRunState>;
  private runsWritten = 0;
  /** Runs whose state outgrew RUN_STATE_BUDGET (said once). */
  private readonly tooLarge = new Set<string>();

  constructor(private readonly o: KubeStatusOptions) {
    const r = o.resource;
    this.ref = {
      apiVersion: r.apiVersion,
      kind: r.kind,
      name: r.metadata.name,
      ...(r.metadata.namespace ? { namespace: r.metadata.namespace } : {}),
    };
    this.resourceVersion = r.metadata.resourceVersion;
    this.generation = r.metadata.generation;
    const status = r.status as Partial<ResourceStatus> | undefined;
    this.takenOver = readStamp(status?.writer);
    this.seq = this.takenOver?.seq ?? 0;
    this.conditions = Array.isArray(status?.conditions) ? status.conditions : [];
    if (status?.command && typeof status.command.id === 'string') this.command = status.command;
    this.pinned = KubeStatusStore.savedTemplates(r);
    this.runs = savedRuns(status?.runs);
  }

  /** A running analysis's state as saved (by this replica, or by the leader before it). */
  runState(id: string): AnalysisRunState | undefined {
    const state = this.runs[id];
    return state && structuredClone(state);
  }

  /**
   * Keeps a run's state (undefined: it ended, and is dropped). A run that starts or ends is
   * written with the next write; one that only moved on, at most every RUN_WRITE_MS.
   */
  saveRunState(id: string, state: AnalysisRunState | undefined, now: number): void {
    const known = id in this.runs;
    const kept = state && compactRun(state);
    if (state && !kept && !this.tooLarge.has(id)) {
      this.tooLarge.add(id);
      this.o.log(
        `analysis ${id}: its state has outgrown ${RUN_STATE_BUDGET / 1024} KiB and is no longer kept in the status; a new leader would start it again`,
      );
    }
    if (kept) this.runs[id] = kept;
    else delete this.runs[id];
    if (!known && !kept) return;
    if (known !== (kept !== undefined) || now - this.runsWritten >= RUN_WRITE_MS) {
      this.runsWritten = now;
      this.changed();
    }
  }

  /** The template specs pinned for the release under way, as the resource holds them (any shape: check them). */
  static savedTemplates(resource: KubeObject): Record<string, unknown> | undefined {
    const templates = (resource.status as Partial<ResourceStatus> | undefined)?.templates;
    return templates && typeof templates === 'object' && !Array.isArray(templates) ? templates : undefined;
  }

  /** The status a restarted operator resumes from, as the resource holds it. */
  static savedState(resource: KubeObject): RolloutStatus | undefined {
    const state = (resource.status as Partial<ResourceStatus> | undefined)?.state;
    return state && typeof state === 'object' && typeof state.phase === 'string' ? state : undefined;
  }

  rollout(name: string): StoredRollout | undefined {
    if (this.stored) return structuredClone(this.stored);
    const state = KubeStatusStore.savedState(this.o.resource);
    return state ? { name, document: undefined, templates: {}, status: state } : undefined;
  }

  putRollout(r: StoredRollout): void {
    this.stored = structuredClone(r);
    this.changed();
  }

  saveTransition(name: string, events: readonly EventRecord[], status: RolloutStatus): void {
    if (!this.stored) throw new Error(`no rollout named ${name}`);
    const next = JSON.stringify(status);
    // A round that changes nothing (most ticks) is not a write to the API server.
    if (next !== JSON.stringify(this.stored.status)) {
      this.stored.status = JSON.parse(next) as RolloutStatus;
      this.changed();
    }
    if (events.length > 0) this.o.events?.(events);
  }

  appendEvent(_rollout: string, revision: number, at: number, type: string, data: Record<string, unknown>): void {
    this.o.events?.([{ revision, at, type, data }]);
  }

  /**
   * Shows `why` as the status' message and a Degraded condition, on top of the engine's
   * status, until called with undefined: the operator's refusal to start what the resource
   * asks for while the engine itself is fine.
   */
  refuse(why: string | undefined): void {
    if (why === this.refusal) return;
    this.refusal = why;
    this.changed();
  }

  /** Keeps the specs of the templates the next (or current) release reads, written with the status. */
  pin(templates: Record<string, unknown>): void {
    if (JSON.stringify(templates) === JSON.stringify(this.pinned ?? {})) return;
    this.pinned = structuredClone(templates);
    this.changed();
  }

  /** The id of the last command answered: one carried out is never carried out again. */
  get answeredCommand(): string | undefined {
    return this.command?.id;
  }

  /** Records the answer to a command, written with the status. */
  answer(answer: CommandAnswer): void {
    this.command = answer;
    this.changed();
  }

  /**
   * Resolves once everything saved so far is on the resource. It does not reject: while
   * the API server refuses writes it stays pending (and the engine moves nothing forward).
   */
  durable(): Promise<void> {
    if (this.written >= this.version) return Promise.resolve();
    const version = this.version;
    return new Promise((resolve) => this.waiters.push({ version, resolve }));
  }

  /** Why the last write failed, while writes fail. */
  get error(): string | undefined {
    return this.lastError;
  }

  /** Writes what is in memory now; the operator calls this again after a failure (each round). */
  flush(): Promise<void> {
    if (this.lost || this.closed || this.written >= this.version) return Promise.resolve();
    this.writing ??= this.write().finally(() => (this.writing = undefined));
    return this.writing;
  }

  /** Writes on the next turn of the event loop, so changes made together (a transition and the command that caused it) land in one write. */
  private changed(): void {
    this.version++;
    setImmediate(() => void this.flush().catch((err: unknown) => this.o.log(`status write failed: ${String(err)}`)));
  }

  /**
   * Writes nothing more after its last writes, of at most `ms` (a leader that steps down
   * leaves its newest status; one whose lease lapsed has it refused and leaves nothing).
   */
  async close(ms = 2000): Promise<void> {
    if (this.closed) return;
    // After the write in flight, which may have read its body before the last change.
    await lastWrites(
      {
        flush: () => this.flush(),
        pending: () => !this.lost && !this.closed && this.stored !== undefined && this.written < this.version,
        failing: () => this.lastError !== undefined,
      },
      ms,
    );
    this.closed = true;
  }

  private async write(): Promise<void> {
    while (!this.lost && !this.closed && this.stored && this.written < this.version) {
      const version = this.version;
      const body = this.statusBody(this.stored.status);
      try {
        const written = await this.o.client.replace(
          {
            ...this.ref,
            metadata: {
              name: this.ref.name,
              ...(this.ref.namespace ? { namespace: this.ref.namespace } : {}),
              ...(this.resourceVersion ? { resourceVersion: this.resourceVersion } : {}),
            },
            status: body,
          } as KubeObject,
          { status: true },
        );
        this.resourceVersion = written.metadata.resourceVersion;
        this.written = version;
        this.lastError = undefined;
        this.release();
      } catch (err) {
        if (isNotActing(err)) {
          // Refused by the lease's fence: this replica's leadership is over, and so is this store.
          if (!this.closed) this.o.log(`stopped writing ${describeRef(this.ref)}: ${describeSystemError(err)}`);
          this.closed = true;
          return;
        }
        // The re-read can fail too (the API server blinked): that is a failed write, retried later.
        if (err instanceof KubeConflict && (await this.stillOurs().catch(() => false))) continue;
        if (!this.lost) {
          const reason = `cannot write the status of ${describeRef(this.ref)}: ${describeSystemError(err)}`;
          if (this.lastError !== reason) this.o.log(reason);
          this.lastError = reason;
          this.seq--; // the stamp was not written; the next attempt reuses it
        }
        return;
      }
    }
  }

  /**
   * After a conflict: whether the status is still ours, taking the new version. It is when
   * only spec or metadata moved, and when the write found is an earlier leadership's (the old
   * leader's last, in flight as its lease passed): this leader's status is written over it,
   * as the one that acts now. A later term's, or another replica's of this term, is not.
   */
  private async stillOurs(): Promise<boolean> {
    const current = await this.o.client.get(this.ref);
    if (!current) {
      this.lose(`${describeRef(this.ref)} was deleted`);
      return false;
    }
    const writer = readStamp((current.status as Partial<ResourceStatus> | undefined)?.writer);
    // Our identity with a count past ours: another process given the same identity.
    const twin = writer?.identity === this.o.identity && writer.seq > this.seq;
    const found = twin ? 'rival' : judgeStamp(writer, { identity: this.o.identity, term: this.o.term }, this.takenOver);
    if (found === 'rival') {
      this.lose(`replica ${writer!.identity} has written its status since`);
      return false;
    }
    if (found === 'earlier' && !sameStamp(writer, this.takenOver) && !sameStamp(writer, this.lateSaid)) {
      this.lateSaid = writer;
      this.o.log(
        `replica ${writer!.identity}'s last status write landed after this replica took ${describeRef(this.ref)} over: written over`,
      );
    }
    this.resourceVersion = current.metadata.resourceVersion;
    this.generation = current.metadata.generation;
    this.seq--; // the stamp of the refused write is reused
    return true;
  }

  private lose(why: string): void {
    if (this.lost) return;
    this.lost = true;
    this.o.log(`stopped writing ${describeRef(this.ref)}: ${why}`);
    this.o.onLost(why);
  }

  private release(): void {
    const ready = this.waiters.filter((w) => w.version <= this.written);
    this.waiters = this.waiters.filter((w) => w.version > this.written);
    for (const w of ready) w.resolve();
  }

  private statusBody(state: RolloutStatus): ResourceStatus {
    this.seq++;
    const now = new Date().toISOString();
    const { conditions } = conditionsOf(state, now, this.conditions);
    this.conditions = this.refusal ? refusedConditions(conditions, this.refusal, now) : conditions;
    return {
      ...summaryOf(state, stepsOf(this.stored?.document)),
      ...(this.refusal ? { message: this.refusal } : {}),
      conditions: this.conditions,
      ...(this.generation !== undefined ? { observedGeneration: this.generation } : {}),
      writer: stamp(this.o.identity, this.o.term, this.seq),
      ...(this.command ? { command: this.command } : {}),
      ...(this.pinned && Object.keys(this.pinned).length > 0 ? { templates: this.pinned } : {}),
      state,
      ...(Object.keys(this.runs).length > 0 ? { runs: this.runs } : {}),
    };
  }
}
