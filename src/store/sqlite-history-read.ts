/**
 * Reading a rollout's history for a chart. An answer over days reads thousands of rows, so
 * it is read in slices with the event loop free between them (engines keep their rounds);
 * from its own connection in one read transaction, so every slice sees the same snapshot
 * while the store goes on writing and merging aged buckets (WAL mode allows both).
 */
import Database from 'better-sqlite3';
import { HISTORY_TIERS } from './history.js';
import { readBucket } from './history-schema.js';

/** No bucket is wider, so one that overlaps `from` starts after `from - WIDEST` (an indexed range). */
export const WIDEST = HISTORY_TIERS.at(-1)!.width;

export interface HistoryRow {
  series: string;
  width: number;
  start: number;
  data: unknown;
}

export interface HistoryMark {
  at: number;
  type: string;
  [field: string]: unknown;
}

export class HistoryReader {
  constructor(
    private readonly db: Database.Database,
    /** Whether this reader holds a snapshot of its own, so the caller may yield between reads. */
    readonly snapshot: boolean,
  ) {}

  /** The rows that overlap [from, to) and start in [sliceStart, sliceEnd), oldest first. */
  rows(rollout: string, from: number, to: number, sliceStart = from - WIDEST + 1, sliceEnd = to): HistoryRow[] {
    const rows = this.db
      .prepare(
        'select series, width, start, data from history where rollout = ? and start >= ? and start < ? and start + width > ? order by start, series',
      )
      .all(rollout, Math.max(sliceStart, from - WIDEST + 1), Math.min(sliceEnd, to), from) as {
      series: string;
      width: number;
      start: number;
      data: string;
    }[];
    return rows.flatMap((r) => {
      const data = readBucket(r.series, r.data);
      return data ? [{ ...r, data }] : [];
    });
  }

  /** The widest bucket overlapping [from, to) (0 for none): an answer is never finer. */
  widest(rollout: string, from: number, to: number): number {
    const row = this.db
      .prepare(
        'select coalesce(max(width), 0) as w from history where rollout = ? and start >= ? and start < ? and start + width > ?',
      )
      .get(rollout, from - WIDEST + 1, to, from) as { w: number };
    return row.w;
  }

  /**
   * A rollout's events of `types` at [from, to), oldest first, at most `limit`: what a chart
   * marks on its time axis; only those after its last `deleted` event (a rollout of the same
   * name before is another one).
   */
  marks(rollout: string, from: number, to: number, types: readonly string[], limit: number): HistoryMark[] {
    const rows = this.db
      .prepare(
        `select at, type, data from events where rollout = ? and at >= ? and at < ? and type in (${types.map(() => '?').join(', ')})
        and id > (select coalesce(max(id), 0) from events where rollout = ? and type = 'deleted') order by id limit ?`,
      )
      .all(rollout, from, to, ...types, rollout, limit) as { at: number; type: string; data: string }[];
    return rows.map((r) => ({ ...(JSON.parse(r.data) as Record<string, unknown>), at: r.at, type: r.type }));
  }

  /** Ends the snapshot and closes its connection (a reader over the store's own connection has none). */
  close(): void {
    if (!this.snapshot) return;
    this.db.exec('commit');
    this.db.close();
  }
}

/** A reader over its own connection and snapshot; a store in memory has one connection only, read at once. */
export function openHistoryReader(store: Database.Database): HistoryReader {
  if (store.memory) return new HistoryReader(store, false);
  const db = new Database(store.name, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    db.exec('begin');
  } catch (err) {
    db.close();
    throw err;
  }
  return new HistoryReader(db, true);
}
