/**
 * `GET /api/v1/rollouts/:name/series`: a rollout's history between two times, as at most
 * `points` buckets of one width, for a chart. Stored buckets are merged into the answer's
 * (sums, maxima and latency sketches, so quantiles are of the requests themselves and a
 * spike keeps its maximum error rate), with the step boundaries from the event log and,
 * per sequential analysis metric, its evidence against the rollback line.
 */
import { z } from 'zod';
import { HttpError } from '../shared/http.js';
import { LatencySketch } from '../shared/sketch.js';
import { VERSIONS, type Version } from '../shared/stats-snapshot.js';
import {
  EVIDENCE_PREFIX,
  TRAFFIC,
  mergeEvidence,
  sparseSketch,
  type EvidenceBucket,
  type TrafficBucket,
  type TrafficCell,
} from '../store/history.js';
import type { HistoryTable } from '../store/sqlite-history.js';
import { WIDEST, type HistoryMark, type HistoryRow } from '../store/sqlite-history-read.js';

export const SERIES_LIMITS = { defaultPoints: 300, maxPoints: 2000, defaultSpan: 3_600_000, maxSpan: 31 * 86_400_000 };

/** Answer widths as a time axis reads them; a wider range than the last allows takes whole days. */
const WIDTHS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400].map(
  (s) => s * 1000,
);
const DAY = 86_400_000;

export interface SeriesRange {
  from: number;
  to: number;
  points: number;
}

/** Digits only: no exponents, signs, fractions or spaces, so 1e9 and NaN are refused, not read. */
function integerIn(min: number, max: number) {
  const reason = `must be an integer from ${min} to ${max}`;
  return z
    .string()
    .regex(/^[0-9]{1,16}$/, reason)
    .transform(Number)
    .pipe(z.number().min(min, reason).max(max, reason));
}

const MAX_TIME = 8.64e15;

/** The route's query parameters: the dispatcher checks each, and the OpenAPI document declares them. */
export const SERIES_QUERY = {
  from: { schema: integerIn(0, MAX_TIME), description: 'ms since the epoch (an hour before `to` unless said)' },
  to: { schema: integerIn(0, MAX_TIME), description: 'ms since the epoch, not included (now unless said)' },
  points: {
    schema: integerIn(10, SERIES_LIMITS.maxPoints),
    description: `at most this many buckets (${SERIES_LIMITS.defaultPoints} unless said)`,
  },
};

/** Reads `from`, `to` (ms since the epoch, default the last hour) and `points`, or says why not. */
export function seriesRange(query: URLSearchParams, now: number): SeriesRange {
  const to = integerParam(query, 'to', now);
  const from = integerParam(query, 'from', to - SERIES_LIMITS.defaultSpan);
  const points = integerParam(query, 'points', SERIES_LIMITS.defaultPoints);
  if (from >= to) throw new HttpError(400, `from must be before to (got from=${from}, to=${to})`);
  if (to - from > SERIES_LIMITS.maxSpan)
    throw new HttpError(400, `from and to may be at most 31 days apart (got ${Math.ceil((to - from) / DAY)} days)`);
  return { from, to, points };
}

function integerParam(query: URLSearchParams, name: keyof typeof SERIES_QUERY, fallback: number): number {
  const text = query.get(name);
  if (text === null) return fallback;
  const parsed = SERIES_QUERY[name].schema.safeParse(text);
  if (!parsed.success)
    throw new HttpError(400, `${name} ${parsed.error.issues[0]!.message} (got ${JSON.stringify(text.slice(0, 40))})`);
  return parsed.data;
}

/**
 * The narrowest width that puts [from, to) in at most `points` aligned buckets, a multiple
 * of `widest` (the widest stored bucket), so each stored bucket falls in one answer bucket.
 */
export function answerWidth(range: SeriesRange, widest: number): number {
  const count = (w: number) => Math.ceil(range.to / w) - Math.floor(range.from / w);
  const fits = WIDTHS.find((w) => w % Math.max(1, widest) === 0 && count(w) <= range.points);
  if (fits) return fits;
  let w = Math.max(DAY, Math.ceil(widest / DAY) * DAY);
  while (count(w) > range.points) w += DAY;
  return w;
}

export interface VersionSeries {
  requests: (number | null)[];
  errors: (number | null)[];
  maxErrorRate: (number | null)[];
  maxP99: (number | null)[];
  p50: (number | null)[];
  p99: (number | null)[];
}

export interface EvidenceSeries {
  run: string;
  template: string;
  metric: string;
  rollbackAt: number;
  /** [bucket start, ln E at its last round, largest ln E in it], for the buckets the run has. */
  points: [number, number, number][];
}

export interface SeriesAnswer {
  from: number;
  to: number;
  /** Each bucket's width in ms: requests per second are requests / (width / 1000). */
  width: number;
  /** Each bucket's start; every version's arrays are aligned on it, null where it served nothing. */
  t: number[];
  versions: Partial<Record<Version, VersionSeries>>;
  evidence: EvidenceSeries[];
}

/** The events a rollout's history shows a person (not ticks, acknowledgements or announcements), in both modes. */
export const HISTORY_TYPES: readonly string[] = [
  'apply',
  'deploy',
  'promote',
  'abort',
  'pause',
  'resume',
  'retry',
  'undo',
  'setWeight',
  'status',
  'result',
  'analysisVerdict',
  'analysisStopped',
  'instanceFailed',
  'notificationFailed',
];

/** The events a chart marks: releases, phase, step and weight changes, and outcomes. */
export const MARK_TYPES = ['deploy', 'status', 'result'];
export const MAX_MARKS = 1000;

/** Answers computed at once: each reads up to a month of buckets, so more wait their turn elsewhere (503). */
const MAX_ANSWERING = 2;
/** Half an hour of stored buckets is read at a time, at most 1,800 rows per series. */
const SLICE = 1_800_000;
let answering = 0;

/**
 * A rollout's series with its marks (the first MAX_MARKS in the range; `marksTruncated`
 * when there were more), read in slices from one snapshot with the event loop free between
 * them: a month's answer must not hold up the engines' rounds.
 */
export async function rolloutSeries(
  history: HistoryTable,
  rollout: string,
  range: SeriesRange,
): Promise<SeriesAnswer & { marks: HistoryMark[]; marksTruncated?: true }> {
  if (answering >= MAX_ANSWERING)
    throw new HttpError(
      503,
      `${MAX_ANSWERING} series are being answered; ask again in a second`,
      {},
      { 'retry-after': '1' },
    );
  answering++;
  const reader = history.reader();
  try {
    const builder = new SeriesBuilder(range, reader.widest(rollout, range.from, range.to));
    for (let start = range.from - WIDEST + 1; start < range.to; start += SLICE) {
      builder.add(reader.rows(rollout, range.from, range.to, start, start + SLICE));
      if (reader.snapshot) await new Promise((resolve) => setImmediate(resolve));
    }
    const marks = reader.marks(rollout, range.from, range.to, MARK_TYPES, MAX_MARKS + 1);
    const truncated = marks.length > MAX_MARKS;
    return {
      ...builder.answer(),
      marks: marks.slice(0, MAX_MARKS),
      ...(truncated ? { marksTruncated: true as const } : {}),
    };
  } finally {
    reader.close();
    answering--;
  }
}

/** Merges stored rows (of any widths) into the answer's buckets. */
export function seriesAnswer(range: SeriesRange, rows: readonly HistoryRow[]): SeriesAnswer {
  const builder = new SeriesBuilder(
    range,
    rows.reduce((w, r) => Math.max(w, r.width), 0),
  );
  builder.add(rows);
  return builder.answer();
}

/** An answer built from stored rows given in any number of batches; `widest`: the widest stored bucket among them. */
class SeriesBuilder {
  private readonly width: number;
  private readonly t: number[];
  private readonly traffic = new Map<number, Partial<Record<Version, Merging>>>();
  private readonly evidence = new Map<string, Map<number, EvidenceBucket>>();

  constructor(
    private readonly range: SeriesRange,
    widest: number,
  ) {
    const width = answerWidth(range, widest);
    const first = Math.floor(range.from / width) * width;
    this.width = width;
    this.t = Array.from({ length: Math.ceil(range.to / width) - first / width }, (_, i) => first + i * width);
  }

  add(rows: readonly HistoryRow[]): void {
    const first = this.t[0]!;
    for (const row of rows) {
      const i = Math.floor((row.start - first) / this.width);
      if (i < 0 || i >= this.t.length) continue;
      if (row.series === TRAFFIC) addTraffic(this.traffic, i, row.data as TrafficBucket);
      else if (row.series.startsWith(EVIDENCE_PREFIX)) {
        const run = row.series.slice(EVIDENCE_PREFIX.length);
        const byBucket = this.evidence.get(run) ?? new Map<number, EvidenceBucket>();
        this.evidence.set(run, byBucket);
        const old = byBucket.get(i);
        const data = row.data as EvidenceBucket;
        byBucket.set(i, old ? mergeEvidence(old, data) : data);
      }
    }
  }

  answer(): SeriesAnswer {
    const { range, width, t } = this;
    return {
      from: range.from,
      to: range.to,
      width,
      t,
      versions: versionSeries(this.traffic, t.length),
      evidence: evidenceSeries(this.evidence, t),
    };
  }
}

interface Merging {
  requests: number;
  errors: number;
  maxErrorRate: number;
  maxP99: number;
  latency: LatencySketch;
}

function addTraffic(traffic: Map<number, Partial<Record<Version, Merging>>>, i: number, bucket: TrafficBucket): void {
  const cells = traffic.get(i) ?? {};
  traffic.set(i, cells);
  for (const v of VERSIONS) {
    const cell: TrafficCell | undefined = bucket[v];
    if (!cell) continue;
    const m = (cells[v] ??= { requests: 0, errors: 0, maxErrorRate: 0, maxP99: 0, latency: new LatencySketch() });
    m.requests += cell.requests;
    m.errors += cell.errors;
    m.maxErrorRate = Math.max(m.maxErrorRate, cell.maxErrorRate);
    m.maxP99 = Math.max(m.maxP99, cell.maxP99);
    m.latency.merge(sparseSketch(cell.latency));
  }
}

function versionSeries(traffic: Map<number, Partial<Record<Version, Merging>>>, n: number) {
  const out: Partial<Record<Version, VersionSeries>> = {};
  for (const v of VERSIONS) {
    if (![...traffic.values()].some((cells) => cells[v])) continue;
    const s: VersionSeries = { requests: [], errors: [], maxErrorRate: [], maxP99: [], p50: [], p99: [] };
    for (let i = 0; i < n; i++) {
      const m = traffic.get(i)?.[v];
      s.requests.push(m ? m.requests : null);
      s.errors.push(m ? m.errors : null);
      s.maxErrorRate.push(m ? m.maxErrorRate : null);
      s.maxP99.push(m && m.latency.count > 0 ? m.maxP99 : null);
      s.p50.push(quantile(m, 0.5));
      s.p99.push(quantile(m, 0.99));
    }
    out[v] = s;
  }
  return out;
}

function quantile(m: Merging | undefined, q: number): number | null {
  return m && m.latency.count > 0 ? m.latency.quantile(q) : null;
}

function evidenceSeries(evidence: Map<string, Map<number, EvidenceBucket>>, t: readonly number[]): EvidenceSeries[] {
  const out: EvidenceSeries[] = [];
  for (const [run, byBucket] of evidence) {
    const buckets = [...byBucket].sort((a, b) => a[0] - b[0]);
    const last = buckets.at(-1)![1];
    for (const metric of Object.keys(last.metrics).sort()) {
      const points: [number, number, number][] = [];
      let rollbackAt = 0;
      for (const [i, b] of buckets) {
        const cell = b.metrics[metric];
        if (!cell) continue;
        points.push([t[i]!, cell.logE, cell.maxLogE]);
        rollbackAt = cell.rollbackAt;
      }
      out.push({ run, template: last.template, metric, rollbackAt, points });
    }
  }
  return out;
}
