/**
 * Offline data for `kanari judge`: metric pairs for the Kayenta judge (Kayenta's own
 * MetricSetPair JSON, or a long CSV of metric,version,value) and request logs for the
 * sequential judge (a CSV of time,version,status,latency_ms, grouped into seconds).
 * Bad rows are reported with their file and line.
 */
import { ConfigError } from '../config/errors.js';
import { DATA_LIMITS } from '../config/bounds.js';
import { loadFileText, parseText } from '../config/load.js';
import { z } from 'zod';
import type { MetricPair } from './judges/kayenta/judge.js';
import type { ComparisonWindow, LatencyWindow } from './judges/sequential/window.js';
import { LatencySketch } from '../shared/sketch.js';

const CONTROL = new Set(['control', 'baseline', 'stable']);
const CANARY = new Set(['experiment', 'canary']);

/** Kayenta writes NaN as a bare token or a string; both mean "no value here". */
const kayentaNumber = z
  .union([z.number(), z.literal('NaN'), z.null()])
  .transform((v) => (typeof v === 'number' ? v : NaN));
const pairList = z.array(
  z.looseObject({
    name: z.string(),
    tags: z.record(z.string(), z.string()).default({}),
    values: z.looseObject({ control: z.array(kayentaNumber), experiment: z.array(kayentaNumber) }),
  }),
);

/** Kayenta's metric pairs; with `metrics` (the canary config's), each pair must be one of them. */
export function readMetricPairs(file: string, metrics?: readonly string[]): MetricPair[] {
  const unknown = (name: string) => metrics !== undefined && !metrics.includes(name);
  const notInConfig = `is not a metric of the canary config (it has: ${metrics?.join(', ')})`;
  if (!file.endsWith('.csv')) {
    const known = pairList.superRefine((pairs, ctx) =>
      pairs.forEach(
        (p, i) =>
          unknown(p.name) && ctx.addIssue({ code: 'custom', path: [i, 'name'], message: notInConfig, input: p.name }),
      ),
    );
    return parseText(loadFileText(file).replace(/\bNaN\b(?=\s*[,\]])/g, '"NaN"'), file, known, DATA_LIMITS);
  }
  const pairs = new Map<string, MetricPair>();
  const firstLine = new Map<string, number>();
  for (const row of csvRows(file, ['metric', 'version', 'value'])) {
    const side = CONTROL.has(row.version) ? 'control' : CANARY.has(row.version) ? 'experiment' : undefined;
    if (!side)
      throw rowError(
        file,
        row.line,
        `version must be one of control, baseline, stable, canary, experiment (got ${JSON.stringify(row.version)})`,
      );
    const pair = pairs.get(row.metric) ?? { name: row.metric, values: { control: [], experiment: [] } };
    const values: number[] = pair.values[side];
    values.push(row.value === '' || row.value === 'NaN' ? NaN : numberIn(file, row.line, 'value', row.value));
    if (!pairs.has(row.metric)) firstLine.set(row.metric, row.line);
    pairs.set(row.metric, pair);
  }
  const stray = [...pairs.keys()].find(unknown);
  if (stray !== undefined) throw rowError(file, firstLine.get(stray)!, `${JSON.stringify(stray)} ${notInConfig}`);
  return [...pairs.values()];
}

/** Groups a request log into one window per second, in time order. */
export function readRequestLog(file: string): ComparisonWindow[] {
  const seconds = new Map<number, { canary: Side; control: Side }>();
  for (const row of csvRows(file, ['time', 'version', 'status', 'latency_ms'])) {
    const t = /^\d+(\.\d+)?$/.test(row.time) ? Number(row.time) : Date.parse(row.time) / 1000;
    if (!Number.isFinite(t))
      throw rowError(file, row.line, `time must be seconds or an ISO date (got ${JSON.stringify(row.time)})`);
    const side = CANARY.has(row.version) ? 'canary' : CONTROL.has(row.version) ? 'control' : undefined;
    if (!side)
      throw rowError(
        file,
        row.line,
        `version must be canary or control/baseline/stable (got ${JSON.stringify(row.version)})`,
      );
    const status = numberIn(file, row.line, 'status', row.status);
    const latency = numberIn(file, row.line, 'latency_ms', row.latency_ms);
    const second = Math.floor(t);
    const bucket = seconds.get(second) ?? { canary: new Side(), control: new Side() };
    bucket[side].add(status, latency / 1000);
    seconds.set(second, bucket);
  }
  return [...seconds.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([, b]) => ({ canary: b.canary.window(), control: b.control.window() }));
}

class Side {
  requests = 0;
  errors = 0;
  readonly sketch = new LatencySketch();
  add(status: number, seconds: number): void {
    this.requests++;
    // 5xx and "no response" (status 0) are the service's failures; 4xx are the client's.
    if (status >= 500 || status === 0) this.errors++;
    this.sketch.add(seconds);
  }
  window() {
    const sketch = this.sketch;
    const latency: LatencyWindow = {
      countAbove: (thresholds) => thresholds.map((t) => sketch.count - sketch.countAtOrBelow(t)),
      quantile: (q) => sketch.quantile(q),
    };
    return { requests: this.requests, errors: this.errors, latency };
  }
}

type Row<K extends string> = Record<K, string> & { line: number };

/** A plain CSV reader: a header row naming at least `required`, then one row per line (no quoted commas). */
function csvRows<K extends string>(file: string, required: readonly K[]): Row<K>[] {
  const lines = loadFileText(file).split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  const missing = required.filter((r) => !header.includes(r));
  if (missing.length > 0)
    throw rowError(file, 1, `the header must name ${required.join(', ')} (missing ${missing.join(', ')})`);
  const rows: Row<K>[] = [];
  lines.slice(1).forEach((text, i) => {
    if (text.trim() === '') return;
    const cells = text.split(',').map((c) => c.trim());
    if (cells.length !== header.length)
      throw rowError(file, i + 2, `has ${cells.length} fields where the header has ${header.length}`);
    rows.push(Object.assign(Object.fromEntries(header.map((h, j) => [h, cells[j]!])), { line: i + 2 }) as Row<K>);
  });
  return rows;
}

function numberIn(file: string, line: number, column: string, text: string | undefined): number {
  const n = Number(text);
  if (text === undefined || text === '' || !Number.isFinite(n))
    throw rowError(file, line, `${column} must be a number (got ${JSON.stringify(text)})`);
  return n;
}

function rowError(file: string, line: number, message: string): ConfigError {
  return new ConfigError([{ file, line, col: 1, path: '', message }]);
}
