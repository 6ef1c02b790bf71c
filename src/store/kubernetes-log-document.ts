/**
 * A Rollout's event log and history as kept on Kubernetes: one JSON document in a ConfigMap
 * beside the Rollout (`kubernetes-log.ts` writes it, the operator's API reads it). Pure:
 * its name, its shape, reading it back checked (a person can edit a ConfigMap), and the
 * bounds that keep it well under Kubernetes' 1 MiB object limit however long the rollout:
 *
 * - events: at most EVENTS_BUDGET bytes; past it the oldest go first, except a release's
 *   `deploy` and `result` rows, which go only when nothing else is left to drop;
 * - history: buckets merged exactly as they age (history.ts: sums, maxima, sketches), and
 *   once past HISTORY_BUDGET merged into ever wider buckets; only past a year a bucket
 *   (thousands of analysis runs, each its own series) do the oldest runs' evidence go.
 *
 * A latency sketch's counts are written with each run of zeros as its negated length
 * (`packCounts`): a histogram's few buckets spread over hundreds of the sketch's bins, and
 * written out whole they would take most of the budget.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { EventRecord } from '../rollout/seams/store.js';
import { EVIDENCE_PREFIX, mergeBucket, TRAFFIC, type TrafficBucket } from './history.js';
import { checkBucket } from './history-schema.js';
import type { WriterStamp } from './kubernetes-writer.js';

/** The ConfigMap's key that holds the document. */
export const LOG_KEY = 'log.json';
export const LOG_SUFFIX = '.kanari-log';
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'kanari' } as const;

/** The whole document at most (the object's limit is 1 MiB, with metadata): what the bounds below add up to, with room. */
export const LOG_BUDGET = 600 * 1024;
export const EVENTS_BUDGET = 200 * 1024;
export const HISTORY_BUDGET = 360 * 1024;
/** One event's data at most; a larger one is kept as its type and a note (a message can be long). */
export const MAX_EVENT_BYTES = 8 * 1024;
/** The types never dropped while anything else can be. */
export const KEPT_TYPES: readonly string[] = ['deploy', 'result'];

/**
 * How long each resolution is kept before it is merged into the next. Coarser than the
 * SQLite store's (history.ts) — a whole object is written each time — but the same exact
 * merges, so a spike of a few seconds stays in its bucket's maximum error rate.
 */
export const LOG_TIERS = [
  { width: 5_000, keepFor: 3_600_000 },
  { width: 60_000, keepFor: 24 * 3_600_000 },
  { width: 600_000, keepFor: Infinity },
] as const;
/**
 * Past HISTORY_BUDGET, the finest buckets are merged into the next width of these (and past
 * a day into days, doubling), then the next finest, until the rows fit: an hour of two
 * versions' 5-second buckets with latency sketches (~370 bytes a cell) is more than the
 * budget on its own, so it is the finest that must give, not everything at once.
 */
const LADDER = [...LOG_TIERS.map((t) => t.width), 3_600_000, 21_600_000, 86_400_000];

export interface LogEvent extends EventRecord {
  id: number;
}

export interface LogRow {
  series: string;
  width: number;
  start: number;
  data: unknown;
}

export interface LogDocument {
  v: 1;
  /** The replica that wrote it last, its lease term and its count of writes (kubernetes-writer.ts). */
  writer?: WriterStamp;
  /** The newest id given (ids per Rollout, strictly increasing across leaders). */
  lastId: number;
  /** The highest id dropped to keep within the budget (0 for none): a reader after an older id has missed some. */
  droppedThrough: number;
  /** The end of the last counted window in the traffic history: a window that starts before it is not counted twice. */
  trafficThrough?: number;
  events: LogEvent[];
  history: LogRow[];
}

export const emptyLog = (): LogDocument => ({ v: 1, lastId: 0, droppedThrough: 0, events: [], history: [] });

/**
 * The ConfigMap of a Rollout: `<rollout>.kanari-log`; a name too long for that (253
 * characters at most) is cut and given a hash of the whole, so two Rollouts never share one.
 */
export function logName(rollout: string): string {
  const name = `${rollout}${LOG_SUFFIX}`;
  if (name.length <= 253) return name;
  const hash = createHash('sha256').update(rollout).digest('hex').slice(0, 10);
  const room = 253 - LOG_SUFFIX.length - hash.length - 1;
  return `${rollout.slice(0, room).replace(/[-.]+$/, '')}-${hash}${LOG_SUFFIX}`;
}

const safeInt = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const event = z.object({
  id: safeInt.min(1),
  revision: z.number().int(),
  at: safeInt,
  type: z.string().min(1).max(100),
  data: z.record(z.string(), z.unknown()),
});
const row = z.object({
  series: z.string().min(1).max(300),
  width: safeInt.min(1),
  start: safeInt,
  data: z.unknown(),
});
const loose = z.object({
  v: z.literal(1),
  writer: z.object({ identity: z.string(), term: safeInt.optional(), seq: safeInt }).optional().catch(undefined),
  lastId: safeInt.catch(0),
  droppedThrough: safeInt.catch(0),
  trafficThrough: safeInt.optional().catch(undefined),
  events: z.array(z.unknown()).catch([]),
  history: z.array(z.unknown()).catch([]),
});

/** The ConfigMap's text for `doc`: its latency sketches' counts packed. */
export function writeLog(doc: LogDocument): string {
  return JSON.stringify({ ...doc, history: doc.history.map(packRow) });
}

/** `[5, 0, 0, 0, 2]` as `[5, -3, 2]`: each run of zeros as its negated length. */
export function packCounts(counts: readonly number[]): number[] {
  const out: number[] = [];
  for (const n of counts) {
    if (n !== 0) out.push(n);
    else if ((out.at(-1) ?? 1) < 0) out[out.length - 1]!--;
    else out.push(-1);
  }
  return out;
}

/** The counts `packCounts` packed, or undefined for what it could not have made (or more than `max` bins). */
export function unpackCounts(packed: unknown, max = 4096): number[] | undefined {
  if (!Array.isArray(packed) || packed.length > max) return undefined;
  const out: number[] = [];
  for (const n of packed) {
    if (typeof n !== 'number' || !Number.isFinite(n)) return undefined;
    if (n >= 0) out.push(n);
    else if (!Number.isInteger(n) || out.length - n > max) return undefined;
    else for (let i = 0; i < -n; i++) out.push(0);
  }
  return out;
}

/** A row with each traffic cell's sketch counts packed (packCounts), or unpacked (`pack` false; left as is where they do not unpack). */
function traffic(row: LogRow, pack: boolean): LogRow {
  if (row.series !== TRAFFIC || typeof row.data !== 'object' || row.data === null) return row;
  const cells = Object.entries(row.data as Record<string, unknown>).map(([version, cell]) => {
    const latency = (cell as { latency?: { counts?: unknown } } | null)?.latency;
    if (typeof latency !== 'object' || latency === null) return [version, cell];
    const counts = pack ? packCounts(latency.counts as number[]) : unpackCounts(latency.counts);
    return [version, counts ? { ...(cell as object), latency: { ...latency, counts } } : cell];
  });
  return { ...row, data: Object.fromEntries(cells) as TrafficBucket };
}
const packRow = (r: LogRow) => traffic(r, true);
const unpackRow = (r: LogRow) => traffic(r, false);

/**
 * The document a ConfigMap holds, checked: rows that do not fit are left out, and what is
 * not a log at all reads as an empty one with the reason (logged once by the caller).
 * Never throws.
 */
export function readLog(data: unknown): { log: LogDocument; problem?: string } {
  const text = (data as Record<string, unknown> | undefined)?.[LOG_KEY];
  if (text === undefined) return { log: emptyLog() };
  let json: unknown;
  try {
    if (typeof text !== 'string') throw new Error('not text');
    json = JSON.parse(text);
  } catch {
    return { log: emptyLog(), problem: `its ${LOG_KEY} is not JSON` };
  }
  const parsed = loose.safeParse(json);
  if (!parsed.success) return { log: emptyLog(), problem: `its ${LOG_KEY} is not a kanari log (version 1)` };
  const events = parsed.data.events
    .flatMap((e) => {
      const ok = event.safeParse(e);
      const kept = ok.success ? writable(ok.data) : undefined;
      return kept ? [kept] : [];
    })
    .sort((a, b) => a.id - b.id)
    .filter((e, i, all) => i === 0 || all[i - 1]!.id !== e.id);
  const history = parsed.data.history.flatMap((r) => {
    const ok = row.safeParse(r);
    const data = ok.success ? checkBucket(ok.data.series, unpackRow(ok.data).data) : undefined;
    return ok.success && data ? [{ ...ok.data, data }] : [];
  });
  const dropped = parsed.data.events.length - events.length + parsed.data.history.length - history.length;
  const lastId = Math.max(parsed.data.lastId, events.at(-1)?.id ?? 0);
  return {
    log: {
      v: 1,
      ...(parsed.data.writer ? { writer: parsed.data.writer } : {}),
      lastId,
      droppedThrough: Math.min(parsed.data.droppedThrough, lastId),
      ...(parsed.data.trafficThrough === undefined ? {} : { trafficThrough: parsed.data.trafficThrough }),
      events,
      history,
    },
    ...(dropped > 0 ? { problem: `${dropped} of its rows are not of a kanari log's shape and were left out` } : {}),
  };
}

/**
 * An event read back as the writer keeps it (`keptEvent`), or undefined when its data cannot
 * be written as JSON again: nested deeper than JSON.stringify's stack (JSON.parse reads any
 * depth), which would fail the leader that continues the log and every answer that holds it.
 */
function writable(e: LogEvent): LogEvent | undefined {
  try {
    return keptEvent(e);
  } catch {
    return undefined;
  }
}

/** An event as kept: its data cut to a note when it is larger than MAX_EVENT_BYTES. */
export function keptEvent(e: LogEvent): LogEvent {
  const size = JSON.stringify(e.data).length;
  return size <= MAX_EVENT_BYTES ? e : { ...e, data: { truncated: `the event's data was ${size} bytes` } };
}

/** Events within `budget` bytes: the oldest dropped first, `deploy` and `result` last. Returns the highest id dropped. */
export function boundEvents(
  events: LogEvent[],
  budget = EVENTS_BUDGET,
): { events: LogEvent[]; droppedThrough: number } {
  const sizes = events.map((e) => JSON.stringify(e).length + 1);
  let total = sizes.reduce((a, b) => a + b, 2);
  if (total <= budget) return { events, droppedThrough: 0 };
  // Down to 90%, so the next few events do not each drop one.
  const target = Math.floor(budget * 0.9);
  const drop = new Set<number>();
  for (const pass of [false, true])
    for (let i = 0; i < events.length && total > target; i++) {
      if (drop.has(i) || (!pass && KEPT_TYPES.includes(events[i]!.type))) continue;
      drop.add(i);
      total -= sizes[i]!;
    }
  let droppedThrough = 0;
  for (const i of drop) droppedThrough = Math.max(droppedThrough, events[i]!.id);
  return { events: events.filter((_, i) => !drop.has(i)), droppedThrough };
}

/** A rollout's history buckets in memory, merged as they age and as they outgrow the budget. */
export class LogHistory {
  /** By width, then by series and start. */
  private readonly tiers = new Map<number, Map<string, LogRow>>();
  /** Per tier, the time up to which it was last merged into the next: merging runs only when it moves. */
  private readonly merged: number[] = [];

  constructor(rows: readonly LogRow[] = []) {
    for (const r of [...rows].sort((a, b) => a.start - b.start)) this.put(r.series, r.width, r.start, r.data);
  }

  /** Adds `data` to the finest bucket at `at`, then merges what aged by `at`. */
  add(series: string, at: number, data: unknown): void {
    const width = LOG_TIERS[0].width;
    this.put(series, width, Math.floor(at / width) * width, data);
    this.age(at);
  }

  list(): LogRow[] {
    return [...this.tiers.values()]
      .flatMap((t) => [...t.values()])
      .sort((a, b) => a.start - b.start || a.width - b.width || a.series.localeCompare(b.series));
  }

  /** Bytes the rows take as written (writeLog). */
  bytes(): number {
    return JSON.stringify(this.list().map(packRow)).length;
  }

  /**
   * Merges the finest buckets into wider ones until the rows fit `budget`. Only when a year a
   * bucket is still too much (thousands of analysis runs, each its own series) are the
   * oldest runs' evidence dropped, whole; returns how many were.
   */
  bound(budget = HISTORY_BUDGET): number {
    let size = this.bytes();
    while (size > budget) {
      const finest = Math.min(...this.tiers.keys());
      if (finest >= 365 * 86_400_000) break;
      const next = LADDER.find((w) => w > finest && w % finest === 0) ?? 2 * Math.max(finest, LADDER.at(-1)!);
      this.merge(finest, () => true, next);
      size = this.bytes();
    }
    if (size <= budget) return 0;
    // Each run's bytes counted once, then the oldest runs dropped until the rest fits.
    const runs = new Map<string, { start: number; bytes: number }>();
    for (const r of this.list()) {
      if (!r.series.startsWith(EVIDENCE_PREFIX)) continue;
      const run = runs.get(r.series) ?? { start: r.start, bytes: 0 };
      run.bytes += JSON.stringify(packRow(r)).length + 1;
      runs.set(r.series, run);
    }
    const drop = new Set<string>();
    for (const [series, run] of [...runs].sort((a, b) => a[1].start - b[1].start)) {
      if (size <= budget) break;
      drop.add(series);
      size -= run.bytes;
    }
    for (const tier of this.tiers.values()) for (const [key, r] of tier) if (drop.has(r.series)) tier.delete(key);
    const dropped = drop.size;
    return dropped;
  }

  private age(now: number): void {
    for (let i = 0; i + 1 < LOG_TIERS.length; i++) {
      const tier = LOG_TIERS[i]!;
      const next = LOG_TIERS[i + 1]!.width;
      // Only whole buckets of the next tier, so each is made once from all its rows.
      const cutoff = Math.floor((now - tier.keepFor) / next) * next;
      if (this.merged[i] !== undefined && cutoff <= this.merged[i]!) continue;
      this.merged[i] = cutoff;
      this.merge(tier.width, (r) => r.start + tier.width <= cutoff, next);
    }
  }

  /** Merges the rows `width` wide that `which` picks into buckets `into` wide. */
  private merge(width: number, which: (r: LogRow) => boolean, into: number): void {
    const tier = this.tiers.get(width);
    if (!tier) return;
    // Oldest first: a merged bucket's evidence is that of its last round.
    const moving = [...tier.entries()].filter(([, r]) => which(r)).sort(([, a], [, b]) => a.start - b.start);
    for (const [key] of moving) tier.delete(key);
    if (tier.size === 0) this.tiers.delete(width);
    for (const [, r] of moving) this.put(r.series, into, Math.floor(r.start / into) * into, r.data);
  }

  private put(series: string, width: number, start: number, data: unknown): void {
    const tier = this.tiers.get(width) ?? new Map<string, LogRow>();
    this.tiers.set(width, tier);
    const key = `${series}\0${start}`;
    const old = tier.get(key);
    tier.set(key, { series, width, start, data: old ? mergeBucket(series, old.data, data) : data });
  }
}
