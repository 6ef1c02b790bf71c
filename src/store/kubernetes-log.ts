/**
 * A Rollout's event log and history on Kubernetes, written by the leader's runner into a
 * ConfigMap beside the Rollout (`kubernetes-log-document.ts`: its name, shape and bounds),
 * owned by it so Kubernetes deletes it with the Rollout. As the status (kubernetes.ts), it is
 * kept in memory and written behind: the engine's calls return at once and never wait on the
 * API server; the newest document is written one write at a time at the resourceVersion
 * last read, at most every WRITE_MS, and again RETRY_MS after a failure.
 *
 * A new leader reads the ConfigMap first and continues it: its event ids go on from the
 * object's `lastId` (rows a crashed leader had not written are lost, never their ids
 * reused by another event a reader has seen), its history is added to. Fencing: every
 * write stamps `writer` with this replica, its lease term and a count (kubernetes-writer.ts).
 * On a conflict the object is read again: a later leader's write (or another replica's of
 * this term) stops this one writing; an earlier term's (the old leader's last write,
 * landing after this leader read the object) is continued after: what this replica has not
 * written yet goes on top of it, its events renumbered after the late write's last id. No
 * reader has seen those ids: readers read only the object, and they were never on it.
 */
import { describeRef, KubeConflict, KubeError, type KubeClient, type KubeObject, type ObjectRef } from '../kube/api.js';
import type { AnalysisReport, MeasurementRecord } from '../analysis/run.js';
import type { EventRecord } from '../rollout/seams/store.js';
import { describeSystemError } from '../shared/system.js';
import { isNotActing } from '../shared/not-acting.js';
import { judgeStamp, lastWrites, sameStamp, stamp, type WriterStamp } from './kubernetes-writer.js';
import { EVIDENCE_PREFIX, evidenceOf, TRAFFIC, type TrafficBucket } from './history.js';
import { trafficCellOf, type CountedVersion } from './window-traffic.js';
import {
  boundEvents,
  EVENTS_BUDGET,
  keptEvent,
  LogHistory,
  readLog,
  type LogDocument,
} from './kubernetes-log-document.js';
import { isKanaris, logObject, logRef, ownedBy } from './kubernetes-log-object.js';

/** Writes at most this often (a whole object each time). */
export const WRITE_MS = 1000;
/** After a failed write, the next attempt. */
export const RETRY_MS = 2000;

export interface KubeLogOptions {
  client: KubeClient;
  /** The Rollout (its uid owns the ConfigMap). */
  rollout: KubeObject;
  /** This operator replica (its lease identity): written in `writer`. */
  identity: string;
  /** The lease term it leads in, written beside its identity (none: stamps without one, judged as before terms). */
  term?: number;
  log: (line: string) => void;
  /** Which version the sequential judge compares the canary with now: baseline while one serves, else stable. */
  control?: () => 'stable' | 'baseline';
}

export class KubeRolloutLog {
  private readonly ref: ObjectRef;
  private resourceVersion?: string;
  private doc: LogDocument;
  private history: LogHistory;
  /** The stamp on the object when this replica took it on: an earlier leader's, whose late writes are continued after. */
  private readonly takenOver?: WriterStamp;
  /** The stamp on the object as this replica last read or wrote it: a conflict that finds another was someone's write. */
  private basedOn?: WriterStamp;
  /** This replica's count of writes (the `seq` of its stamp). */
  private seq: number;
  /** The newest id on the object: events after it are this replica's own, unwritten, and no reader has seen them. */
  private writtenThrough: number;
  /** The history added since the write under way (or the last that landed): what goes on top of a late write. */
  private fresh = new LogHistory();
  private version = 0;
  private written = 0;
  private writing?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private lastWrite = 0;
  private lost = false;
  private closed = false;
  /** A write the lease's fence refused: the leadership it wrote in is over, and it writes nothing more. */
  private refused = false;
  private lastError?: string;
  /** About the bytes the events take as JSON. */
  private eventBytes: number;

  private constructor(
    private readonly o: KubeLogOptions,
    found: KubeObject | undefined,
    /** Why the ConfigMap could not be read (the operator may not): not written either. */
    unread?: string,
  ) {
    this.ref = logRef(o.rollout);
    const ours = found && ownedBy(found, o.rollout);
    const read = found ? readLog((found as { data?: unknown }).data) : undefined;
    if (unread !== undefined) {
      // Ids could go back over what it holds: kept in memory only, and said.
      this.lost = true;
      o.log(`cannot read ${describeRef(this.ref)} (${unread}): the log is not written; the rollout goes on`);
    } else if (found && !isKanaris(found, o.rollout)) this.notKanaris();
    else if (found && !ours)
      o.log(`${describeRef(this.ref)} belongs to an older Rollout of this name: it is started afresh`);
    else if (read?.problem) o.log(`${describeRef(this.ref)}: ${read.problem}; it is continued without them`);
    this.resourceVersion = found?.metadata.resourceVersion;
    this.doc =
      ours && read ? read.log : { ...(read?.log ?? { v: 1, lastId: 0, droppedThrough: 0 }), events: [], history: [] };
    // Ids go on from whatever the object held, even one started afresh: a reader never sees an id twice.
    if (read) this.doc.lastId = Math.max(this.doc.lastId, read.log.lastId);
    this.takenOver = this.doc.writer && { ...this.doc.writer };
    this.basedOn = this.takenOver;
    this.seq = this.takenOver?.identity === o.identity ? this.takenOver.seq : 0;
    this.writtenThrough = this.doc.lastId;
    this.history = new LogHistory(this.doc.history);
    this.eventBytes = JSON.stringify(this.doc.events).length;
  }

  /**
   * Reads the ConfigMap (rejects while the API server cannot answer: the runner tries again
   * next round). One the operator may not read (a ClusterRole from before the log) never
   * holds the rollout up: its log is kept in memory only, and that is said.
   */
  static async open(o: KubeLogOptions): Promise<KubeRolloutLog> {
    try {
      return new KubeRolloutLog(o, await o.client.get(logRef(o.rollout)));
    } catch (err) {
      if (err instanceof KubeError && err.status === 403) return new KubeRolloutLog(o, undefined, err.message);
      throw err;
    }
  }

  /** The newest id given. */
  get lastId(): number {
    return this.doc.lastId;
  }

  /** Why the last write failed, while writes fail. */
  get error(): string | undefined {
    return this.lastError;
  }

  /** Appends rows with the next ids (synchronous; written behind). */
  append(rows: readonly EventRecord[]): void {
    if (rows.length === 0 || this.closed) return;
    for (const r of rows) {
      const e = keptEvent({ id: ++this.doc.lastId, ...structuredClone(r) });
      this.doc.events.push(e);
      this.eventBytes += JSON.stringify(e).length + 1;
    }
    // Trimmed to 90% of the budget when past it: rarely, not at every event.
    if (this.eventBytes > EVENTS_BUDGET) this.boundEvents();
    this.changed();
  }

  private boundEvents(): void {
    const bounded = boundEvents(this.doc.events);
    this.doc.events = bounded.events;
    this.doc.droppedThrough = Math.max(this.doc.droppedThrough, bounded.droppedThrough);
    this.eventBytes = JSON.stringify(this.doc.events).length;
  }

  /** A round of an analysis run: its evidence (sequential judges) into the history. */
  addRun(id: string, report: AnalysisReport, at: number): void {
    const evidence = evidenceOf(report);
    if (!evidence || this.closed) return;
    this.add(EVIDENCE_PREFIX + id, at, evidence);
    this.changed();
  }

  /**
   * The windows a sequential run counted (its `window` measurements: requests and 5xx per
   * version, from the count source, Prometheus on a cluster) as the traffic history, each
   * interval once however many runs count it; latency where the source reads a histogram.
   */
  addWindows(items: readonly MeasurementRecord[]): void {
    if (this.closed) return;
    for (const m of items) {
      const value = m.value as { canary?: CountedVersion; control?: CountedVersion } | undefined;
      if (m.metric !== 'window' || m.outcome !== 'value' || !m.window || !value) continue;
      if (m.window.start < (this.doc.trafficThrough ?? 0) || !(m.window.end > m.window.start)) continue;
      const bucket: TrafficBucket = {};
      const canary = trafficCellOf(value.canary);
      const control = trafficCellOf(value.control);
      if (canary) bucket.canary = canary;
      if (control) bucket[this.o.control?.() ?? 'stable'] = control;
      this.doc.trafficThrough = m.window.end;
      if (Object.keys(bucket).length === 0) continue;
      // At the window's start: a spike in it is drawn where it began.
      this.add(TRAFFIC, m.window.start, bucket);
      this.changed();
    }
  }

  /** Adds a bucket of `series` at `at` (for traffic and tests). */
  addHistory(series: string, at: number, data: unknown): void {
    if (this.closed) return;
    this.add(series, at, data);
    this.changed();
  }

  private add(series: string, at: number, data: unknown): void {
    this.history.add(series, at, data);
    if (!this.lost) this.fresh.add(series, at, data);
  }

  /** The document as it would be written now. */
  document(): LogDocument {
    const dropped = this.history.bound();
    if (dropped > 0)
      this.o.log(
        `${describeRef(this.ref)}: the evidence of its ${dropped} oldest analysis runs no longer fits, merged a year a bucket, and was dropped`,
      );
    return { ...this.doc, history: this.history.list() };
  }

  /** Writes what is in memory now (one write at a time); resolves when done or failed, never rejects. */
  flush(): Promise<void> {
    if (this.lost || this.refused || this.written >= this.version) return Promise.resolve();
    this.writing ??= this.write().finally(() => (this.writing = undefined));
    return this.writing;
  }

  /** Stops writing, after its last writes (at most `ms`): a leader that steps down leaves what it has. */
  async close(ms = 2000): Promise<void> {
    if (this.closed) return;
    clearTimeout(this.timer);
    await lastWrites(
      {
        flush: () => this.flush(),
        pending: () => !this.lost && !this.refused && this.written < this.version,
        failing: () => this.lastError !== undefined,
      },
      ms,
    );
    this.closed = true;
    clearTimeout(this.timer);
  }

  private changed(): void {
    this.version++;
    this.schedule(Math.max(0, this.lastWrite + WRITE_MS - Date.now()));
  }

  private schedule(ms: number): void {
    if (this.timer || this.lost || this.closed || this.refused) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, ms);
    this.timer.unref();
  }

  private async write(): Promise<void> {
    while (!this.lost && !this.refused && this.written < this.version) {
      const version = this.version;
      const doc = { ...this.document(), writer: stamp(this.o.identity, this.o.term, this.seq + 1) };
      const object = logObject(this.o.rollout, doc, this.resourceVersion);
      this.lastWrite = Date.now();
      const sending = this.fresh;
      this.fresh = new LogHistory();
      try {
        const written = this.resourceVersion ? await this.o.client.replace(object) : await this.o.client.create(object);
        this.resourceVersion = written.metadata.resourceVersion;
        this.doc.writer = doc.writer;
        this.basedOn = doc.writer;
        this.seq = doc.writer.seq;
        this.writtenThrough = doc.lastId;
        this.written = version;
        if (this.lastError) this.o.log(`${describeRef(this.ref)} is written again`);
        this.lastError = undefined;
      } catch (err) {
        if (isNotActing(err)) {
          // Refused by the lease's fence: this leadership writes nothing more (the next resumes from the object).
          if (!this.refused) this.o.log(`stopped writing ${describeRef(this.ref)}: ${describeSystemError(err)}`);
          this.refused = true;
          clearTimeout(this.timer);
          return;
        }
        // Not on the object: still this replica's to write, with what came meanwhile.
        this.fresh = new LogHistory([...sending.list(), ...this.fresh.list()]);
        this.fresh.bound();
        if (err instanceof KubeConflict && (await this.stillOurs().catch(() => false))) continue;
        // Deleted by hand since it was read: made again, with everything this replica holds.
        if (err instanceof KubeError && err.status === 404 && this.resourceVersion !== undefined) {
          this.resourceVersion = undefined;
          continue;
        }
        if (!this.lost) {
          const reason = `cannot write ${describeRef(this.ref)}: ${describeSystemError(err)}`;
          if (this.lastError !== reason) this.o.log(`${reason}; tried again in ${RETRY_MS / 1000} s`);
          this.lastError = reason;
          this.schedule(RETRY_MS);
        }
        return;
      }
    }
    // Written before the next change is due: one that came meanwhile waits its turn.
    if (this.written < this.version) this.schedule(WRITE_MS);
  }

  /** After a conflict: whether the object is still ours to write (only a person or nothing wrote it since), taking its version. */
  private async stillOurs(): Promise<boolean> {
    const current = await this.o.client.get(this.ref);
    if (!current) {
      this.resourceVersion = undefined;
      return true;
    }
    // Someone else's made in its place since (deleted, then made again by hand).
    if (!isKanaris(current, this.o.rollout)) {
      this.notKanaris();
      return false;
    }
    const found = readLog((current as { data?: unknown }).data).log;
    const writer = found.writer;
    if (judgeStamp(writer, { identity: this.o.identity, term: this.o.term }, this.takenOver) === 'rival') {
      this.lost = true;
      this.o.log(`stopped writing ${describeRef(this.ref)}: replica ${writer!.identity} has written it since`);
      return false;
    }
    // A write of kanari's this replica has not seen (not a person's edit, which leaves the stamp): continued after.
    if (writer && !sameStamp(writer, this.basedOn)) this.continueAfter(found);
    this.resourceVersion = current.metadata.resourceVersion;
    return true;
  }

  /**
   * Takes `found` (an earlier leader's late write) as the log so far, and puts on top of it
   * what this replica has not written: its events with ids after `found`'s last (no reader
   * has seen their ids), its history merged in. Traffic `found` counted through its
   * `trafficThrough` is not counted again (the old and the new leader judge the same run
   * from the same Prometheus): this replica's buckets that end by then are left out.
   */
  private continueAfter(found: LogDocument): void {
    const shift = Math.max(0, found.lastId - this.writtenThrough);
    const mine = this.doc.events.filter((e) => e.id > this.writtenThrough).map((e) => ({ ...e, id: e.id + shift }));
    const droppedMine = this.doc.droppedThrough > this.writtenThrough ? this.doc.droppedThrough + shift : 0;
    const counted = found.trafficThrough ?? 0;
    this.fresh = new LogHistory(this.fresh.list().filter((r) => r.series !== TRAFFIC || r.start + r.width > counted));
    this.history = new LogHistory([...found.history, ...this.fresh.list()]);
    const trafficThrough = Math.max(found.trafficThrough ?? 0, this.doc.trafficThrough ?? 0);
    this.doc = {
      ...found,
      lastId: Math.max(found.lastId, this.doc.lastId + shift),
      droppedThrough: Math.max(found.droppedThrough, droppedMine),
      ...(trafficThrough > 0 ? { trafficThrough } : {}),
      events: [...found.events, ...mine],
      history: [],
    };
    this.o.log(
      `${describeRef(this.ref)}: replica ${found.writer!.identity}'s last write landed after this replica took it over: continued after it` +
        (mine.length > 0 ? `, this replica's ${mine.length} unwritten events from id ${mine[0]!.id}` : ''),
    );
    this.writtenThrough = found.lastId;
    this.basedOn = found.writer;
    this.eventBytes = JSON.stringify(this.doc.events).length;
    if (this.eventBytes > EVENTS_BUDGET) this.boundEvents();
  }

  /** Someone else's ConfigMap of that name: never overwritten (the operator may update any ConfigMap). */
  private notKanaris(): void {
    this.lost = true;
    this.o.log(
      `${describeRef(this.ref)} is not kanari's (no owner of this Rollout's uid, no managed-by label): the log is not written; rename or delete it`,
    );
  }
}
