/**
 * Counts for the sequential judge from Prometheus: raw counter samples, never `rate()` or
 * `increase()`, which extrapolate to the window's edges and give inflated, fractional
 * counts. Each check asks for the range `metric[W]` ending now, which returns every
 * scraped sample with its timestamp; an interval runs between two scrape timestamps of the
 * series still exported (one scrape of one target gives all its series the same timestamp),
 * and a series' count in it is the difference of its samples — or, when the counter went
 * down (the exporter restarted), its new value, the count since the restart. A series that
 * ended is left out of the intervals after its last sample; one that first appears inside
 * an interval counts from zero (see docs/analysis.md). Series that several targets export
 * share no scrape timestamps; their windows are cut on a grid instead (prometheus-rounds.ts).
 */
import { VERSIONS, type Version } from '../../config/schemas/table.js';
import type { PrometheusCounts } from '../../config/schemas/analysis.js';
import type { LatencyWindow, VersionWindow } from '../judges/sequential/window.js';
import type { CountSource, CountsResult, CountWindow } from './counts.js';
import { httpRequest } from './http.js';
import {
  countInWindow,
  gridEnds,
  increase,
  joinUnsteady,
  ROUNDS_LOOKBACK_MS,
  ROUNDS_MAX_LOOKBACK_MS,
  scrapeInterval,
} from './prometheus-rounds.js';

interface RangeSeries {
  metric: Record<string, string>;
  values: [number, string][];
}

interface PromAnswer {
  status: 'success' | 'error';
  data?: { resultType: string; result: RangeSeries[] };
  errorType?: string;
  error?: string;
}

/** One series as the source uses it: which version, its samples by timestamp (ms). */
interface Samples {
  version: Version;
  le?: number;
  byTime: Map<number, number>;
}

type Fetched = { kind: 'value'; series: Samples[] } | Exclude<CountsResult, { kind: 'value' }>;

export class PrometheusCountSource implements CountSource {
  readonly name = 'prometheus';
  private readonly byLabel: Map<string, Version>;
  /** What a bucket bound is divided by to be in seconds, the judge's unit. */
  private readonly leScale: number;
  /** The series come from several scrape targets (seen once, kept for the run): windows on a grid. */
  private severalTargets = false;
  /** How far before `after` samples are read (ROUNDS_LOOKBACK_MS; more for long scrape intervals). */
  private lookback = ROUNDS_LOOKBACK_MS;

  /**
   * `instances` are what `{{stable}}`, `{{canary}}` and `{{baseline}}` stand for in a
   * version's label value (`{{service}}` is the service): fixed for a run, whose versions
   * do not change under it.
   */
  constructor(
    private readonly config: PrometheusCounts,
    private readonly service: string,
    instances: Partial<Record<Version, string>> = {},
  ) {
    const fill = (text: string) =>
      text
        .replaceAll('{{service}}', service)
        .replace(/\{\{(stable|canary|baseline)\}\}/g, (_, v: Version) => instances[v] ?? v);
    this.byLabel = new Map(
      VERSIONS.flatMap((v) => [config.versions[v] ?? v].flat().map((value) => [fill(value), v] as const)),
    );
    this.leScale = config.latencyUnit === 'milliseconds' ? 1000 : 1;
  }

  /** The series selector for `metric`, with the configured labels and `extra` matchers. */
  selector(metric: string, extra: string[] = []): string {
    const c = this.config;
    const exact = Object.entries(c.labels).map(
      ([k, v]) => `${k}="${promString(v.replaceAll('{{service}}', this.service))}"`,
    );
    const versions = [...this.byLabel.keys()].map(regexLiteral).join('|');
    return `${metric}{${[...exact, `${c.versionLabel}=~"${promString(versions)}"`, ...extra].join(',')}}`;
  }

  async windows(after: number, until: number): Promise<CountsResult> {
    const c = this.config;
    // Read from before `after`: every target seen several times (one target or several, told
    // apart from the first check), and on a grid each series' value where the windows start.
    const rangeMs = Math.max(1, Math.ceil(until - after + this.lookback) + 1);
    const range = `${rangeMs}ms`;
    const queries = [
      this.selector(c.requests),
      this.selector(c.requests, [`${c.errors.label}=~"${promString(c.errors.regex)}"`]),
      ...(c.latency === false ? [] : [this.selector(`${c.latency}_bucket`)]),
    ];
    const answers = await Promise.all(queries.map((q) => this.fetchRange(`${q}[${range}]`, until)));
    for (const a of answers) if (a.kind !== 'value') return a;
    const [requests, errors, buckets] = answers.map((a) => (a as { series: Samples[] }).series) as Samples[][];
    for (const v of ['canary', 'stable'] as const)
      if (!requests!.some((s) => s.version === v))
        return { kind: 'empty', message: `no ${v} samples of ${queries[0]} between ${iso(after)} and ${iso(until)}` };
    if (buckets && buckets.length === 0)
      return {
        kind: 'error',
        misconfigured: true,
        message: `no histogram buckets: ${queries[2]} matched no series, so latency cannot be judged (set source.prometheus.latency, or false with errors-only metrics)`,
      };
    const all = [...requests!, ...errors!, ...(buckets ?? [])];
    const interval = scrapeInterval(all);
    // A long scrape interval: read back four of them, or a series would look new (and count its whole total).
    const wanted = interval === undefined ? 0 : Math.min(ROUNDS_MAX_LOOKBACK_MS, 4 * interval);
    if (wanted > this.lookback) {
      this.lookback = wanted;
      return this.windows(after, until);
    }
    if (interleaved(all)) this.severalTargets = true;
    const sets = { requests: requests!, errors: errors!, ...(buckets ? { buckets } : {}) };
    if (this.severalTargets) {
      if (interval === undefined) return { kind: 'value', windows: [] };
      // A series first seen two intervals into the range appeared in it (a new pod), and counts from zero.
      const bornAfter = until - rangeMs + 2 * interval;
      const count = (list: Samples[], start: number, end: number) =>
        list.reduce((n, s) => n + countInWindow(s, start, end, bornAfter), 0);
      // From one window before `after`, which the first is compared with to see that its start is steady.
      const ends = gridEnds(after - interval, until, interval);
      const [previous, ...grid] = ends.map((end, i) => {
        const start = i === 0 ? after - interval : ends[i - 1]!;
        return { start, end, requests: count(requests!, start, end), errors: count(errors!, start, end) };
      });
      const windows = joinUnsteady(grid, previous).map(({ start, end }) => ({
        start,
        end,
        versions: versionWindows(sets, (s) => countInWindow(s, start, end, bornAfter)),
      }));
      return { kind: 'value', windows };
    }
    // The samples read from before `after` only say where counting starts.
    const times = scrapeTimes(all).filter((t) => t >= after);
    const out: CountWindow[] = [];
    for (let i = 1; i < times.length; i++) {
      const [t0, t1] = [times[i - 1]!, times[i]!];
      out.push({ start: t0, end: t1, versions: versionWindows(sets, (s) => countBetween(s.byTime, t0, t1)) });
    }
    return { kind: 'value', windows: out };
  }

  private async fetchRange(query: string, at: number): Promise<Fetched> {
    const c = this.config;
    const url = `${c.address.replace(/\/+$/, '')}/api/v1/query`;
    const res = await httpRequest(url, {
      method: 'POST',
      headers: { ...c.headers, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query, time: (at / 1000).toFixed(3) }).toString(),
      timeoutMs: c.timeout,
    });
    if (res.kind !== 'ok') return res;
    let body: PromAnswer;
    try {
      body = JSON.parse(res.text) as PromAnswer;
    } catch {
      return { kind: 'error', message: `${url} answered ${res.status} with something that is not JSON` };
    }
    if (body.status !== 'success' || !body.data || body.data.resultType !== 'matrix') {
      const reason = `Prometheus ${res.status} ${body.errorType ?? 'error'}: ${body.error ?? `no range in the answer to ${query}`}`;
      // bad_data is the query itself (a bad regex or name), which no retry will fix.
      return { kind: 'error', message: reason, ...(body.errorType === 'bad_data' ? { misconfigured: true } : {}) };
    }
    const series: Samples[] = [];
    for (const s of body.data.result) {
      const version = this.byLabel.get(s.metric[c.versionLabel] ?? '');
      if (!version) continue;
      const byTime = new Map<number, number>();
      for (const [t, v] of s.values) {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0)
          return {
            kind: 'error',
            misconfigured: true,
            message: `${query} has a sample of ${v}, which is not a count (a counter of requests is a whole number)`,
          };
        byTime.set(Math.round(t * 1000), n);
      }
      const le = s.metric['le'];
      series.push({ version, byTime, ...(le === undefined ? {} : { le: bucketBound(le) / this.leScale }) });
    }
    return { kind: 'value', series };
  }
}

/** Each version's counts in one window, each series counted by `counted`. */
function versionWindows(
  sets: { requests: Samples[]; errors: Samples[]; buckets?: Samples[] },
  counted: (s: Samples) => number,
): Record<Version, VersionWindow> {
  const versions = {} as Record<Version, VersionWindow>;
  for (const v of VERSIONS) {
    const sum = (list: Samples[]) => list.filter((s) => s.version === v).reduce((n, s) => n + counted(s), 0);
    const le = new Map<number, number>();
    for (const b of sets.buckets ?? []) if (b.version === v) le.set(b.le!, (le.get(b.le!) ?? 0) + counted(b));
    versions[v] = {
      requests: sum(sets.requests),
      errors: sum(sets.errors),
      ...(sets.buckets ? { latency: bucketLatency(le) } : {}),
    };
  }
  return versions;
}

/** A bucket's `le` label as a number: Prometheus writes the last bound "+Inf", which Number() reads as NaN. */
export function bucketBound(le: string): number {
  return /^\+?inf$/i.test(le) ? Infinity : Number(le);
}

/**
 * A series' count between two scrapes: the increase of its samples; its value at `t1` when
 * it has none at `t0` (it first appeared after `t0`, counting from zero); nothing when it
 * has none at `t1` (it has ended).
 */
export function countBetween(byTime: Map<number, number>, t0: number, t1: number): number {
  const after = byTime.get(t1);
  if (after === undefined) return 0;
  const before = byTime.get(t0);
  return before === undefined ? after : increase(before, after);
}

/**
 * The interval endpoints, in order: the scrape timestamps of the series still exported
 * (those with a sample at the latest timestamp) at which each of them that had appeared by
 * then has a sample. A series that ended, or one that appeared late, constrains nothing.
 */
export function scrapeTimes(series: readonly { byTime: Map<number, number> }[]): number[] {
  const latest = Math.max(...series.flatMap((s) => [...s.byTime.keys()]));
  const current = series.filter((s) => s.byTime.has(latest));
  const first = current.map((s) => Math.min(...s.byTime.keys()));
  const candidates = new Set(current.flatMap((s) => [...s.byTime.keys()]));
  return [...candidates].filter((t) => current.every((s, i) => first[i]! > t || s.byTime.has(t))).sort((a, b) => a - b);
}

/** Whether two series overlap in time yet share no timestamp: they come from different scrapes. */
function interleaved(series: readonly Samples[]): boolean {
  const spans = series
    .filter((s) => s.byTime.size >= 2)
    .map((s) => ({ s, from: Math.min(...s.byTime.keys()), to: Math.max(...s.byTime.keys()) }));
  return spans.some((a) =>
    spans.some((b) => a.from <= b.to && b.from <= a.to && ![...a.s.byTime.keys()].some((t) => b.s.byTime.has(t))),
  );
}

/**
 * Latency known only at a classic histogram's bucket bounds. `countAbove(t)` counts the
 * requests above the bound nearest `t` (in ratio), which both sides share in a window, so
 * the count test stays valid; `quantile(q)` is the bound of the bucket holding it.
 */
export function bucketLatency(cumulative: Map<number, number>): LatencyWindow & { bounds: number[] } {
  const bounds = [...cumulative.keys()].filter((b) => Number.isFinite(b)).sort((a, b) => a - b);
  const total = cumulative.get(Infinity) ?? Math.max(0, ...cumulative.values());
  const atOrBelow = (b: number) => Math.min(total, cumulative.get(b) ?? 0);
  return {
    bounds,
    countAbove: (thresholds) => thresholds.map((t) => total - atOrBelow(nearestBound(bounds, t))),
    quantile: (q) => {
      if (total === 0) return NaN;
      return bounds.find((b) => atOrBelow(b) >= q * total) ?? bounds.at(-1) ?? NaN;
    },
  };
}

/** The bound nearest `t` by ratio (how latencies compare); `t` itself when it is one. */
export function nearestBound(bounds: readonly number[], t: number): number {
  let best = bounds[0] ?? NaN;
  for (const b of bounds) if (Math.abs(Math.log(b / t)) < Math.abs(Math.log(best / t))) best = b;
  return best;
}

function promString(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

function regexLiteral(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
