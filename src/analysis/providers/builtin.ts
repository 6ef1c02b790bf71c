/**
 * The `builtin` provider: kanari's own router statistics. The router keeps cumulative
 * counters (`GET /stats`); the recorder samples them every second and keeps what
 * changed in each interval, so any window — the last second for the sequential judge,
 * the last minute for a threshold check, one-minute steps for a Kayenta comparison —
 * is a sum of deltas.
 */
import { LatencySketch, subtractSnapshot, type SketchSnapshot } from '../../shared/sketch.js';
import { combineKeyStats, emptyKeyStats, keysAbove, type KeyStats } from '../../shared/key-stats.js';
import { STATUS_CLASSES, type StatsSnapshot, type StatusClass } from '../../shared/stats-snapshot.js';
import { VERSIONS, type Version } from '../../config/schemas/table.js';
import type { BuiltinQuery } from '../../config/schemas/analysis.js';
import type { ComparisonWindow, LatencyWindow, SplitShares, VersionWindow } from '../judges/sequential/window.js';
import type { MetricProvider, MetricQuery, MetricResult, TimeWindow } from './types.js';
import { comparisonOf, type CountSource, type CountsResult, type CountWindow } from './counts.js';

export interface VersionDelta {
  requests: Record<StatusClass, number>;
  latency: SketchSnapshot;
  /** Keys first seen, failing or slow in the interval; absent from routers that do not track keys. */
  keys?: KeyStats;
}

/** What changed between two snapshots: the requests whose responses finished in (`start`, `end`]. */
export interface StatsDelta {
  start: number;
  end: number;
  versions: Record<Version, VersionDelta>;
  /** The router restarted (or a worker did) and the counters began again from zero. */
  reset?: boolean;
  /** The user counts began again (a restart, or a new epoch of the router's key tracker): a user may count twice. */
  keysRestarted?: boolean;
}

/** One version's requests over a window, summed from deltas. */
export class VersionTotals {
  requests = 0;
  errors = 0;
  readonly latency = new LatencySketch();
  keys: KeyStats | undefined;

  add(delta: VersionDelta): void {
    for (const c of STATUS_CLASSES) this.requests += delta.requests[c];
    this.errors += delta.requests['5xx'];
    this.latency.merge(delta.latency);
    if (delta.keys) this.keys = combineKeyStats(this.keys ?? emptyKeyStats(), delta.keys);
  }

  /** As the sequential judge sees a version: 5xx are errors, 4xx are the client's. */
  toWindow(): VersionWindow {
    const keys = this.keys;
    return {
      requests: this.requests,
      errors: this.errors,
      latency: new SketchLatency(this.latency),
      ...(keys
        ? {
            keys: { seen: keys.seen, failed: keys.failed, slowAbove: (thresholds) => keysAbove(keys.slow, thresholds) },
          }
        : {}),
    };
  }
}

/** A window's latency from the router's sketch. */
class SketchLatency implements LatencyWindow {
  constructor(private readonly sketch: LatencySketch) {}

  countAbove(thresholds: readonly number[]): number[] {
    return thresholds.map((t) => this.sketch.count - this.sketch.countAtOrBelow(t));
  }

  quantile(q: number): number {
    return this.sketch.quantile(q);
  }

  pooledQuantile(other: LatencyWindow, q: number): number {
    // Only two sketches pool; the judge learns nothing rather than fall back to one side's quantile.
    if (!(other instanceof SketchLatency)) return NaN;
    return new LatencySketch().merge(this.sketch).merge(other.sketch).quantile(q);
  }
}

/**
 * Samples a router's cumulative stats and keeps the deltas for `retention` ms. Deltas
 * can also be fed in directly (`append`), which is how a store replays them after a
 * restart.
 */
export class StatsRecorder {
  private last: StatsSnapshot | undefined;
  private readonly deltas: StatsDelta[] = [];

  constructor(private readonly retention = 3_600_000) {}

  /** Takes the next cumulative snapshot; returns the delta since the previous one (none for the first). */
  record(snapshot: StatsSnapshot): StatsDelta | undefined {
    const previous = this.last;
    this.last = snapshot;
    if (!previous) return undefined;
    if (snapshot.time <= previous.time) return undefined;
    const delta = diff(previous, snapshot);
    this.append(delta);
    return delta;
  }

  append(delta: StatsDelta): void {
    this.deltas.push(delta);
    const horizon = delta.end - this.retention;
    let drop = 0;
    while (drop < this.deltas.length && this.deltas[drop]!.end <= horizon) drop++;
    if (drop > 0) this.deltas.splice(0, drop);
  }

  /** The deltas that ended inside (`window.start`, `window.end`]. */
  within(window: TimeWindow): StatsDelta[] {
    return this.deltas.filter((d) => d.end > window.start && d.end <= window.end);
  }

  latest(): StatsDelta | undefined {
    return this.deltas[this.deltas.length - 1];
  }

  totals(version: Version, window: TimeWindow): VersionTotals {
    const totals = new VersionTotals();
    for (const d of this.within(window)) totals.add(d.versions[version]);
    return totals;
  }

  /** The sequential judge's view of one delta: canary against baseline when a baseline served traffic, otherwise against stable. */
  static comparison(delta: StatsDelta, shares?: SplitShares): ComparisonWindow {
    return comparisonOf(countWindowOf(delta), shares);
  }
}

/** One delta as the sequential judge counts it: 5xx are errors, latency from the router's sketch. */
export function countWindowOf(delta: StatsDelta): CountWindow {
  const versions = {} as Record<Version, VersionWindow>;
  for (const v of VERSIONS) {
    const t = new VersionTotals();
    t.add(delta.versions[v]);
    versions[v] = t.toWindow();
  }
  return { start: delta.start, end: delta.end, versions, ...(delta.keysRestarted ? { usersRestarted: true } : {}) };
}

/** Counts from kanari's own router: the recorder's deltas of `GET /stats`, one interval each. */
export class BuiltinCounts implements CountSource {
  readonly name = 'builtin';

  constructor(private readonly recorder: StatsRecorder) {}

  windows(after: number, until: number): Promise<CountsResult> {
    return Promise.resolve({
      kind: 'value',
      windows: this.recorder.within({ start: after, end: until }).map(countWindowOf),
    });
  }
}

function diff(before: StatsSnapshot, after: StatsSnapshot): StatsDelta {
  const restarted = after.startedAt !== before.startedAt;
  const versions = {} as Record<Version, VersionDelta>;
  let reset = restarted;
  for (const v of VERSIONS) {
    const [a, b] = [before.versions[v], after.versions[v]];
    const requests = Object.fromEntries(STATUS_CLASSES.map((c) => [c, b.requests[c] - a.requests[c]])) as Record<
      StatusClass,
      number
    >;
    const latency = restarted ? undefined : subtractSnapshot(b.latency, a.latency);
    if (!latency || STATUS_CLASSES.some((c) => requests[c] < 0)) reset = true;
    versions[v] = { requests, latency: latency ?? b.latency };
  }
  // After a reset the new counters are all that is known of the interval: they count
  // from the restart, so they are the delta (a little traffic before it is lost).
  if (reset)
    for (const v of VERSIONS)
      versions[v] = { requests: { ...after.versions[v].requests }, latency: after.versions[v].latency };
  // Key counts restart with the router and with each epoch (a release, a rollback): the new ones are the delta.
  // The primary's tracker outlives a worker, so only its own identity says the counts began again.
  const [k0, k1] = [before.keyTracking, after.keyTracking];
  let keysRestarted = k0?.epoch !== k1?.epoch || k0?.id !== k1?.id;
  for (const v of VERSIONS) {
    const [a, b] = [before.versions[v].keys, after.versions[v].keys];
    if (!b) continue;
    const delta = a && !keysRestarted ? combineKeyStats(b, a, -1) : b;
    if (delta.seen < 0 || delta.failed < 0) keysRestarted = true;
    versions[v].keys = delta.seen < 0 || delta.failed < 0 ? b : delta;
  }
  const restartedKeys = keysRestarted && VERSIONS.some((v) => after.versions[v].keys);
  return {
    start: before.time,
    end: after.time,
    versions,
    ...(reset ? { reset: true } : {}),
    ...(restartedKeys ? { keysRestarted: true } : {}),
  };
}

/** Answers `builtin` queries from a recorder's deltas. */
export class BuiltinProvider implements MetricProvider {
  readonly name = 'builtin';

  constructor(private readonly recorder: StatsRecorder) {}

  query(q: MetricQuery, window: TimeWindow, _context: unknown, options: { step?: number } = {}): Promise<MetricResult> {
    if (!('builtin' in q))
      return Promise.resolve({ kind: 'error', message: "the builtin provider was given another provider's query" });
    const query = q.builtin;
    if (options.step === undefined) return Promise.resolve(valueOf(query, this.recorder.totals(query.version, window)));
    const series: number[] = [];
    for (let start = window.start; start < window.end; start += options.step) {
      const r = valueOf(
        query,
        this.recorder.totals(query.version, { start, end: Math.min(window.end, start + options.step) }),
      );
      series.push(r.kind === 'value' ? (r.value as number) : NaN);
    }
    if (series.every((x) => Number.isNaN(x))) return Promise.resolve(empty(query, window));
    return Promise.resolve({ kind: 'value', value: series, series });
  }
}

function valueOf(query: BuiltinQuery, t: VersionTotals): MetricResult {
  return signalValue(query, t.requests, t.errors, (q) => t.latency.quantile(q));
}

/** A builtin signal from one version's counts over a window; `quantile` answers latency, in seconds. */
export function signalValue(
  query: BuiltinQuery,
  requests: number,
  errors: number,
  quantile: (q: number) => number,
): MetricResult {
  if (query.signal === 'requests') return { kind: 'value', value: requests };
  if (requests === 0) return { kind: 'empty', message: `no ${query.version} requests in the window` };
  switch (query.signal) {
    case 'successRate':
      return { kind: 'value', value: 1 - errors / requests };
    case 'errorRate':
      return { kind: 'value', value: errors / requests };
    case 'latency':
      return { kind: 'value', value: quantile(query.quantile!) };
  }
}

function empty(query: BuiltinQuery, window: TimeWindow): MetricResult {
  return {
    kind: 'empty',
    message: `no ${query.version} requests between ${new Date(window.start).toISOString()} and ${new Date(window.end).toISOString()}`,
  };
}
