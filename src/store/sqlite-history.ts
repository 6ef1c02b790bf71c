/**
 * The history table of the SQLite store: one row per rollout, series, width and bucket
 * start. Rows are written in the transactions that already save the router's statistics
 * (once a second) and each analysis round, so history adds no write of its own; when a
 * tier's age passes, its rows are merged into the next tier's, in the same transaction.
 */
import type Database from 'better-sqlite3';
import { HISTORY_TIERS, mergeBucket } from './history.js';
import { readBucket } from './history-schema.js';
import { HistoryReader, openHistoryReader, type HistoryRow } from './sqlite-history-read.js';

export const HISTORY_SCHEMA = `
create table if not exists history (
  rollout text not null,
  series text not null,
  width integer not null,
  start integer not null,
  data text not null,
  primary key (rollout, series, width, start)
);
create index if not exists history_by_width on history (rollout, width, start);
create index if not exists history_by_time on history (rollout, start);
`;

export class HistoryTable {
  /** Per rollout, the time up to which each tier was last merged into the next: merging runs when it moves. */
  private readonly merged = new Map<string, number[]>();

  /** Written once a second per rollout, so prepared once. */
  private readonly selectBucket: Database.Statement;
  private readonly upsertBucket: Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.selectBucket = db.prepare(
      'select data from history where rollout = ? and series = ? and width = ? and start = ?',
    );
    this.upsertBucket = db.prepare(
      'insert into history (rollout, series, width, start, data) values (?, ?, ?, ?, ?) on conflict (rollout, series, width, start) do update set data = excluded.data',
    );
  }

  /** Adds `data` (if any) to its one-second bucket at `at`, merged into what is there, then merges what aged. */
  add(rollout: string, series: string, at: number, data: unknown): void {
    const width = HISTORY_TIERS[0].width;
    if (data !== undefined) this.mergeInto(rollout, series, width, Math.floor(at / width) * width, data);
    this.age(rollout, at);
  }

  /** A reader of one snapshot of the store (see HistoryReader); close it when done. */
  reader(): HistoryReader {
    return openHistoryReader(this.db);
  }

  /** The rows that overlap [from, to), read at once from the store's own connection. */
  rows(rollout: string, from: number, to: number): HistoryRow[] {
    return new HistoryReader(this.db, false).rows(rollout, from, to);
  }

  /** Bytes a rollout's history takes in the table (its rows' data and keys). */
  bytes(rollout: string): number {
    const row = this.db
      .prepare('select coalesce(sum(length(data) + length(series) + 24), 0) as n from history where rollout = ?')
      .get(rollout) as { n: number };
    return row.n;
  }

  drop(rollout: string): void {
    this.db.prepare('delete from history where rollout = ?').run(rollout);
    this.merged.delete(rollout);
  }

  private mergeInto(rollout: string, series: string, width: number, start: number, data: unknown): void {
    const old = this.selectBucket.get(rollout, series, width, start) as { data: string } | undefined;
    const before = old && readBucket(series, old.data);
    const merged = before ? mergeBucket(series, before, data) : data;
    this.upsertBucket.run(rollout, series, width, start, JSON.stringify(merged));
  }

  /** Merges each tier's rows older than its `keepFor` into the next tier's buckets. */
  private age(rollout: string, now: number): void {
    const done = this.merged.get(rollout) ?? [];
    for (let i = 0; i + 1 < HISTORY_TIERS.length; i++) {
      const tier = HISTORY_TIERS[i]!;
      const next = HISTORY_TIERS[i + 1]!.width;
      // Only whole buckets of the next tier, so a bucket is merged into once, from all its rows.
      const cutoff = Math.floor((now - tier.keepFor) / next) * next;
      if (done[i] !== undefined && cutoff <= done[i]!) continue;
      done[i] = cutoff;
      const aged = this.db
        .prepare(
          'select series, start, data from history where rollout = ? and width = ? and start <= ? order by start',
        )
        .all(rollout, tier.width, cutoff - tier.width) as { series: string; start: number; data: string }[];
      const buckets = new Map<string, { series: string; start: number; data: unknown }>();
      for (const r of aged) {
        const start = Math.floor(r.start / next) * next;
        const key = `${start} ${r.series}`;
        const b = buckets.get(key);
        const data = readBucket(r.series, r.data);
        if (data === undefined) continue;
        if (b) b.data = mergeBucket(r.series, b.data, data);
        else buckets.set(key, { series: r.series, start, data });
      }
      for (const b of buckets.values()) this.mergeInto(rollout, b.series, next, b.start, b.data);
      if (aged.length > 0)
        this.db
          .prepare('delete from history where rollout = ? and width = ? and start <= ?')
          .run(rollout, tier.width, cutoff - tier.width);
    }
    this.merged.set(rollout, done);
  }
}
