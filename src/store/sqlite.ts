/**
 * The standalone store: one SQLite file (WAL) holding every rollout's spec and status,
 * its analysis runs with their measurements, what its instances and router are, the
 * router statistics of the last hour, its history (traffic and evidence, downsampled as it
 * ages, see history.ts), and an append-only event log. Every write is a
 * transaction, so a `kill -9` at any moment leaves either the old state or the new one.
 */
import Database from 'better-sqlite3';
import { closeSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AnalysisReport, AnalysisRunState, MeasurementRecord } from '../analysis/run.js';
import type { StatsDelta } from '../analysis/providers/builtin.js';
import type { StatsSnapshot } from '../shared/stats-snapshot.js';
import type { RolloutStatus } from '../rollout/types.js';
import type {
  EventRecord,
  RecordStore,
  RolloutStore,
  RunStore,
  StatsStore,
  StatusStore,
  StoredRollout,
} from '../rollout/seams/store.js';
import { privateDir, privateFiles } from '../shared/files.js';
import { EVIDENCE_PREFIX, evidenceOf, TRAFFIC, trafficOf } from './history.js';
import { HISTORY_SCHEMA, HistoryTable } from './sqlite-history.js';
import { SessionTable } from './sessions.js';
import { TokenTable } from './tokens.js';

const SCHEMA = `
create table if not exists rollouts (
  name text primary key,
  document text not null,
  templates text not null,
  status text not null,
  updated_at integer not null
);
create table if not exists events (
  id integer primary key autoincrement,
  rollout text not null,
  revision integer not null,
  at integer not null,
  type text not null,
  data text not null
);
create index if not exists events_by_rollout on events (rollout, id);
create table if not exists analysis_runs (
  id text not null,
  rollout text not null,
  revision integer not null,
  state text not null,
  report text,
  updated_at integer not null,
  primary key (rollout, id)
);
create table if not exists measurements (
  rollout text not null,
  run text not null,
  n integer not null,
  data text not null,
  primary key (rollout, run, n)
);
create table if not exists records (
  rollout text not null,
  key text not null,
  data text not null,
  primary key (rollout, key)
);
create table if not exists deltas (
  rollout text not null,
  end_at integer not null,
  data text not null
);
create index if not exists deltas_by_rollout on deltas (rollout, end_at);
`;

export interface EventRow {
  id: number;
  rollout: string;
  revision: number;
  at: number;
  type: string;
  data: Record<string, unknown>;
}

export class Store implements StatusStore, RunStore, RecordStore, StatsStore {
  private readonly db: Database.Database;
  /** Who waits for new events (the API's event stream); told once per turn of the event loop, after the commit. */
  private readonly appendListeners = new Set<() => void>();
  private appendTold = false;
  /** Each rollout's traffic and evidence over time, kept while the rollout is. */
  readonly history: HistoryTable;
  /** The controller API's tokens (hashes only). */
  readonly tokens: TokenTable;
  /** Browser sessions (hashes of their ids only). */
  readonly sessions: SessionTable;

  constructor(readonly path: string) {
    if (path !== ':memory:') {
      privateDir(dirname(path));
      // SQLite gives its -wal and -shm files the database file's mode, so that one is made 0600 first.
      closeSync(openSync(path, 'a', 0o600));
      privateFiles(path, `${path}-wal`, `${path}-shm`);
    }
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // NORMAL is durable against a process crash in WAL mode; only a power loss can drop the last commits.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA + HISTORY_SCHEMA);
    this.history = new HistoryTable(this.db);
    this.tokens = new TokenTable(this.db);
    this.sessions = new SessionTable(this.db);
  }

  close(): void {
    this.db.close();
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  rollouts(): StoredRollout[] {
    const rows = this.db.prepare('select name, document, templates, status from rollouts order by name').all() as {
      name: string;
      document: string;
      templates: string;
      status: string;
    }[];
    return rows.map((r) => ({
      name: r.name,
      document: JSON.parse(r.document),
      templates: JSON.parse(r.templates),
      status: JSON.parse(r.status) as RolloutStatus,
    }));
  }

  rollout(name: string): StoredRollout | undefined {
    return this.rollouts().find((r) => r.name === name);
  }

  putRollout(r: StoredRollout): void {
    this.db
      .prepare(
        'insert into rollouts (name, document, templates, status, updated_at) values (?, ?, ?, ?, ?) on conflict (name) do update set document = excluded.document, templates = excluded.templates, status = excluded.status, updated_at = excluded.updated_at',
      )
      .run(
        r.name,
        JSON.stringify(r.document),
        JSON.stringify(r.templates),
        JSON.stringify(r.status),
        r.status.updatedAt,
      );
  }

  saveStatus(name: string, status: RolloutStatus): void {
    this.db
      .prepare('update rollouts set status = ?, updated_at = ? where name = ?')
      .run(JSON.stringify(status), status.updatedAt, name);
  }

  saveTransition(name: string, events: readonly EventRecord[], status: RolloutStatus): void {
    this.transaction(() => {
      for (const e of events) this.appendEvent(name, e.revision, e.at, e.type, e.data);
      this.saveStatus(name, status);
    });
  }

  /**
   * Forgets a rollout: its spec, status, runs, records, statistics and history go; its event log
   * stays as the record of what happened, ended by a `deleted` event that readers of the
   * stream see and after which a rollout of the same name starts its history afresh.
   */
  deleteRollout(name: string, revision: number, at: number, actor?: string): void {
    this.transaction(() => {
      this.db.prepare('delete from rollouts where name = ?').run(name);
      for (const table of ['analysis_runs', 'measurements', 'records', 'deltas'])
        this.db.prepare(`delete from ${table} where rollout = ?`).run(name);
      this.history.drop(name);
      this.appendEvent(name, revision, at, 'deleted', actor === undefined ? {} : { actor });
    });
  }

  /** The id of a rollout's last `deleted` event (0 if none): its history begins after it. */
  deletedAt(name: string): number {
    const row = this.db
      .prepare("select max(id) as id from events where rollout = ? and type = 'deleted'")
      .get(name) as { id: number | null };
    return row.id ?? 0;
  }

  /** Adds an event; its id is global and increasing, and never reused (AUTOINCREMENT), so a reader can resume after one. */
  appendEvent(rollout: string, revision: number, at: number, type: string, data: Record<string, unknown>): void {
    this.db
      .prepare('insert into events (rollout, revision, at, type, data) values (?, ?, ?, ?, ?)')
      .run(rollout, revision, at, type, JSON.stringify(data));
    this.tellAppended();
  }

  /** Calls `listener` after events were added; readers then read the store, so a rolled-back event is never seen. */
  onAppend(listener: () => void): () => void {
    this.appendListeners.add(listener);
    return () => this.appendListeners.delete(listener);
  }

  private tellAppended(): void {
    if (this.appendTold || this.appendListeners.size === 0) return;
    this.appendTold = true;
    // A transaction is synchronous: by the next turn it has committed (or rolled back).
    setImmediate(() => {
      this.appendTold = false;
      // Closed meanwhile (the controller stopping): there is nothing more to read.
      if (!this.db.open) return;
      for (const listener of this.appendListeners) listener();
    });
  }

  /** The newest event's id, 0 when there is none: where a stream that wants only what comes next starts. */
  lastEventId(): number {
    return (this.db.prepare('select coalesce(max(id), 0) as id from events').get() as { id: number }).id;
  }

  /** Every rollout's events (or one's) after id `after`, oldest first, at most `limit`: a page of the stream. */
  eventsAfter(after: number, options: { rollout?: string; limit?: number } = {}): EventRow[] {
    const limit = options.limit ?? 1000;
    const rows = (
      options.rollout === undefined
        ? this.db
            .prepare('select id, rollout, revision, at, type, data from events where id > ? order by id limit ?')
            .all(after, limit)
        : this.db
            .prepare(
              'select id, rollout, revision, at, type, data from events where rollout = ? and id > ? order by id limit ?',
            )
            .all(options.rollout, after, limit)
    ) as (Omit<EventRow, 'data'> & { data: string })[];
    return rows.map((r) => ({ ...r, data: JSON.parse(r.data) as Record<string, unknown> }));
  }

  /** A rollout's events, oldest first: the newest `limit` of those after id `after`. */
  events(rollout: string, options: { after?: number; limit?: number; types?: string[] } = {}): EventRow[] {
    const types = options.types ?? [];
    const rows = this.db
      .prepare(
        `select id, rollout, revision, at, type, data from events where rollout = ? and id > ? ${types.length ? `and type in (${types.map(() => '?').join(', ')})` : ''} order by id desc limit ?`,
      )
      .all(rollout, options.after ?? 0, ...types, options.limit ?? 10_000) as (Omit<EventRow, 'data'> & {
      data: string;
    })[];
    return rows.reverse().map((r) => ({ ...r, data: JSON.parse(r.data) as Record<string, unknown> }));
  }

  /**
   * Saves a run in one transaction: its state (without measurements) replaced, and the
   * measurements it `added` since the last save appended, numbered from `from`, so a
   * tick costs what it adds rather than everything the run has gathered. Each measurement
   * added is an event too, in the same transaction, so the event stream carries them.
   */
  saveRun(
    rollout: string,
    revision: number,
    id: string,
    state: AnalysisRunState,
    report: AnalysisReport,
    at: number,
    added: { from: number; items: readonly MeasurementRecord[] },
  ): void {
    this.transaction(() => {
      const insert = this.db.prepare('insert or replace into measurements (rollout, run, n, data) values (?, ?, ?, ?)');
      added.items.forEach((m, i) => {
        insert.run(rollout, id, added.from + i, JSON.stringify(m));
        this.appendEvent(rollout, revision, at, 'measurement', { run: id, n: added.from + i, ...m });
      });
      this.db
        .prepare(
          'insert into analysis_runs (id, rollout, revision, state, report, updated_at) values (?, ?, ?, ?, ?, ?) on conflict (rollout, id) do update set state = excluded.state, report = excluded.report, updated_at = excluded.updated_at',
        )
        .run(id, rollout, revision, JSON.stringify({ ...state, measurements: [] }), JSON.stringify(report), at);
      const evidence = evidenceOf(report);
      this.history.add(rollout, EVIDENCE_PREFIX + id, at, evidence);
    });
  }

  /** Only a run's report: what views need, without reading its measurements. */
  runReport(rollout: string, id: string): AnalysisReport | undefined {
    const row = this.db.prepare('select report from analysis_runs where rollout = ? and id = ?').get(rollout, id) as
      { report: string } | undefined;
    return row ? (JSON.parse(row.report) as AnalysisReport) : undefined;
  }

  run(rollout: string, id: string): { state: AnalysisRunState; report: AnalysisReport } | undefined {
    const row = this.db
      .prepare('select state, report from analysis_runs where rollout = ? and id = ?')
      .get(rollout, id) as { state: string; report: string } | undefined;
    if (!row) return undefined;
    const rows = this.db
      .prepare('select data from measurements where rollout = ? and run = ? order by n')
      .all(rollout, id) as { data: string }[];
    const state = JSON.parse(row.state) as AnalysisRunState;
    return {
      state: { ...state, measurements: rows.map((r) => JSON.parse(r.data) as MeasurementRecord) },
      report: JSON.parse(row.report) as AnalysisReport,
    };
  }

  /** Finished analysis runs by rollout, template and verdict (for the controller's metrics). */
  verdictCounts(): { rollout: string; template: string; verdict: string; n: number }[] {
    return this.db
      .prepare(
        `select rollout, json_extract(report, '$.template') as template, json_extract(report, '$.verdict') as verdict, count(*) as n
        from analysis_runs where json_extract(report, '$.endedAt') is not null group by 1, 2, 3 order by 1, 2, 3`,
      )
      .all() as { rollout: string; template: string; verdict: string; n: number }[];
  }

  /** Ended rollouts by outcome, with the seconds each took from deploy to end (for metrics). */
  results(): { rollout: string; outcome: string; seconds: number }[] {
    return this.db
      .prepare(
        `select rollout, json_extract(data, '$.outcome') as outcome, json_extract(data, '$.seconds') as seconds from events where type = 'result' order by id`,
      )
      .all() as { rollout: string; outcome: string; seconds: number }[];
  }

  /** Small keyed records a rollout keeps: its instances' pids and ports, its router, the last stats snapshot. */
  record<T>(rollout: string, key: string): T | undefined {
    const row = this.db.prepare('select data from records where rollout = ? and key = ?').get(rollout, key) as
      { data: string } | undefined;
    return row ? (JSON.parse(row.data) as T) : undefined;
  }

  setRecord(rollout: string, key: string, data: unknown): void {
    if (data === undefined) this.db.prepare('delete from records where rollout = ? and key = ?').run(rollout, key);
    else
      this.db
        .prepare(
          'insert into records (rollout, key, data) values (?, ?, ?) on conflict (rollout, key) do update set data = excluded.data',
        )
        .run(rollout, key, JSON.stringify(data));
  }

  /** Keeps a router statistics delta, and drops those older than `retention` ms. */
  addDelta(rollout: string, delta: StatsDelta, retention: number): void {
    this.db
      .prepare('insert into deltas (rollout, end_at, data) values (?, ?, ?)')
      .run(rollout, delta.end, JSON.stringify(delta));
    this.db.prepare('delete from deltas where rollout = ? and end_at < ?').run(rollout, delta.end - retention);
  }

  saveStats(rollout: string, snapshot: StatsSnapshot, delta: StatsDelta | undefined, retention: number): void {
    this.transaction(() => {
      if (delta) {
        this.addDelta(rollout, delta, retention);
        this.history.add(rollout, TRAFFIC, delta.end, trafficOf(delta));
      }
      this.setRecord(rollout, 'stats', snapshot);
    });
  }

  deltas(rollout: string): StatsDelta[] {
    const rows = this.db.prepare('select data from deltas where rollout = ? order by end_at').all(rollout) as {
      data: string;
    }[];
    return rows.map((r) => JSON.parse(r.data) as StatsDelta);
  }

  lastSnapshot(rollout: string): StatsSnapshot | undefined {
    return this.record<StatsSnapshot>(rollout, 'stats');
  }
}

/** Every part of the engine's store, from one SQLite file. */
export function sqliteParts(store: Store): RolloutStore {
  return { status: store, runs: store, records: store, stats: store };
}
