/**
 * A rollout's history as time buckets: per version, requests, errors, the highest error
 * rate and p99 latency of any second, and a latency sketch; per sequential analysis run, each metric's
 * evidence. Buckets merge exactly (sums, maxima, sketches added bin by bin), so history
 * is kept at full resolution for an hour and then merged into coarser buckets, never
 * dropped: a spike of a few seconds stays in its bucket's maximum error rate.
 */
import type { AnalysisReport } from '../analysis/run.js';
import type { StatsDelta } from '../analysis/providers/builtin.js';
import { LatencySketch, RELATIVE_ACCURACY, type SketchSnapshot } from '../shared/sketch.js';
import { STATUS_CLASSES, VERSIONS, type Version } from '../shared/stats-snapshot.js';

/** One version in one bucket. */
export interface TrafficCell {
  requests: number;
  /** 5xx responses (4xx are the client's). */
  errors: number;
  /** The highest errors/requests of any one-second bucket merged into this one. */
  maxErrorRate: number;
  /** The highest p99 latency (s) of any one-second bucket merged into this one; 0 when none had requests. */
  maxP99: number;
  latency: DenseSketch;
}

/**
 * A latency sketch as history keeps it: the counts of consecutive bins from `first`
 * (about a third of the bytes of [index, count] pairs, as a service's latencies fill
 * neighbouring bins), at most the sketch's ~1,100 bins however far apart its values.
 */
export interface DenseSketch extends Omit<SketchSnapshot, 'bins'> {
  first: number;
  counts: number[];
}

export function denseSketch(s: SketchSnapshot): DenseSketch {
  const { bins, ...rest } = s;
  const first = bins[0]?.[0] ?? 0;
  const counts: number[] = [];
  for (const [index, n] of bins) counts[index - first] = n;
  return { ...rest, first, counts: Array.from(counts, (n) => n ?? 0) };
}

/** Two sketches as one, as LatencySketch.merge adds them, without the sketch's full array (merged once a second). */
export function mergeDense(a: DenseSketch, b: DenseSketch): DenseSketch {
  if (a.accuracy !== RELATIVE_ACCURACY || b.accuracy !== RELATIVE_ACCURACY)
    throw new Error(`cannot merge sketches of accuracy ${a.accuracy} and ${b.accuracy}`);
  const extremes = (x: DenseSketch) => (x.count > 0 ? [x] : []);
  const counted = [...extremes(a), ...extremes(b)];
  const bins = [a, b].filter((x) => x.counts.length > 0);
  const first = Math.min(...bins.map((x) => x.first));
  const counts: number[] = [];
  for (const x of bins)
    x.counts.forEach((n, i) => (counts[x.first - first + i] = (counts[x.first - first + i] ?? 0) + n));
  return {
    accuracy: RELATIVE_ACCURACY,
    count: a.count + b.count,
    sum: a.sum + b.sum,
    min: counted.length > 0 ? Math.min(...counted.map((x) => x.min)) : Infinity,
    max: counted.length > 0 ? Math.max(...counted.map((x) => x.max)) : -Infinity,
    zero: a.zero + b.zero,
    first: bins.length > 0 ? first : 0,
    counts: Array.from(counts, (n) => n ?? 0),
  };
}

export function sparseSketch(d: DenseSketch): SketchSnapshot {
  const { first, counts, ...rest } = d;
  const bins: [number, number][] = [];
  counts.forEach((n, i) => {
    if (n > 0) bins.push([first + i, n]);
  });
  return { ...rest, bins };
}

export type TrafficBucket = Partial<Record<Version, TrafficCell>>;

/** One metric's evidence against the canary in one bucket, as natural logs of e-values. */
export interface EvidenceCell {
  /** ln E at the bucket's last round. */
  logE: number;
  /** The largest ln E of any round in the bucket. */
  maxLogE: number;
  /** ln(1/α): where the run rolls back. */
  rollbackAt: number;
}

export interface EvidenceBucket {
  template: string;
  metrics: Record<string, EvidenceCell>;
}

/** How long each resolution is kept before it is merged into the next; the last is kept while the rollout is. */
export const HISTORY_TIERS = [
  { width: 1_000, keepFor: 3_600_000 },
  { width: 10_000, keepFor: 6 * 3_600_000 },
  { width: 60_000, keepFor: Infinity },
] as const;

/** The series a bucket belongs to: `traffic`, or `evidence:<run id>`. */
export const TRAFFIC = 'traffic';
export const EVIDENCE_PREFIX = 'evidence:';

/** A router statistics delta as a one-second bucket (versions that served nothing left out); undefined when none served. */
export function trafficOf(delta: StatsDelta): TrafficBucket | undefined {
  const bucket: TrafficBucket = {};
  for (const v of VERSIONS) {
    const d = delta.versions[v];
    if (!d) continue;
    let requests = 0;
    for (const c of STATUS_CLASSES) requests += d.requests[c];
    if (requests === 0 && d.latency.count === 0) continue;
    const errors = d.requests['5xx'];
    const maxErrorRate = requests > 0 ? errors / requests : 0;
    const maxP99 = d.latency.count > 0 ? LatencySketch.from(d.latency).quantile(0.99) : 0;
    bucket[v] = { requests, errors, maxErrorRate, maxP99, latency: denseSketch(d.latency) };
  }
  return Object.keys(bucket).length > 0 ? bucket : undefined;
}

/** Beyond ±this ln E an e-value is past any rollback line (or as far from it); kept finite so JSON can carry it. */
const MAX_LOG_E = 700;

/** A sequential run's evidence per metric as its report states it; undefined for other judges. */
export function evidenceOf(report: AnalysisReport): EvidenceBucket | undefined {
  if (report.judge !== 'sequential') return undefined;
  const metrics: Record<string, EvidenceCell> = {};
  for (const m of report.metrics) {
    const d = m.details as { eValue?: unknown; alpha?: unknown } | undefined;
    if (typeof d?.eValue !== 'number' || typeof d.alpha !== 'number' || !(d.alpha > 0)) continue;
    const logE = Math.max(-MAX_LOG_E, Math.min(MAX_LOG_E, Math.log(d.eValue)));
    if (Number.isNaN(logE)) continue;
    metrics[m.name] = { logE, maxLogE: logE, rollbackAt: Math.log(1 / d.alpha) };
  }
  return Object.keys(metrics).length > 0 ? { template: report.template, metrics } : undefined;
}

export function mergeTraffic(a: TrafficBucket, b: TrafficBucket): TrafficBucket {
  const out: TrafficBucket = { ...a };
  for (const v of VERSIONS) {
    const x = a[v];
    const y = b[v];
    if (!x || !y) {
      if (y) out[v] = y;
      continue;
    }
    out[v] = {
      requests: x.requests + y.requests,
      errors: x.errors + y.errors,
      maxErrorRate: Math.max(x.maxErrorRate, y.maxErrorRate),
      maxP99: Math.max(x.maxP99, y.maxP99),
      latency: mergeDense(x.latency, y.latency),
    };
  }
  return out;
}

/** `b` is the later bucket: its last round is the merged bucket's last. */
export function mergeEvidence(a: EvidenceBucket, b: EvidenceBucket): EvidenceBucket {
  const metrics = { ...a.metrics };
  for (const [name, y] of Object.entries(b.metrics)) {
    const x = metrics[name];
    metrics[name] = x ? { ...y, maxLogE: Math.max(x.maxLogE, y.maxLogE) } : y;
  }
  return { template: b.template, metrics };
}

export function mergeBucket(series: string, a: unknown, b: unknown): unknown {
  return series === TRAFFIC
    ? mergeTraffic(a as TrafficBucket, b as TrafficBucket)
    : mergeEvidence(a as EvidenceBucket, b as EvidenceBucket);
}
