import { VERSIONS, type Version } from '../config/schemas/table.js';
import { LatencySketch } from '../shared/sketch.js';
import {
  STATUS_CLASSES,
  UPSTREAM_ERRORS,
  type StatsSnapshot,
  type StatusClass,
  type UpstreamError,
  type VersionStats,
} from '../shared/stats-snapshot.js';

class VersionCounters {
  readonly requests = new Float64Array(5);
  readonly errors = new Float64Array(UPSTREAM_ERRORS.length);
  inFlight = 0;
  fallbacks = 0;
  readonly latency = new LatencySketch();

  toJSON(): VersionStats {
    return {
      requests: Object.fromEntries(STATUS_CLASSES.map((c, i) => [c, this.requests[i]!])) as Record<StatusClass, number>,
      upstreamErrors: Object.fromEntries(UPSTREAM_ERRORS.map((e, i) => [e, this.errors[i]!])) as Record<
        UpstreamError,
        number
      >,
      inFlight: this.inFlight,
      fallbacks: this.fallbacks,
      latency: this.latency.toJSON(),
    };
  }
}

/** The per-process counters the data plane updates on every request; cheap to bump. */
export class RouterStats {
  readonly startedAt = Date.now();
  private readonly byVersion: Record<Version, VersionCounters> = {
    stable: new VersionCounters(),
    canary: new VersionCounters(),
    baseline: new VersionCounters(),
  };
  rejected = { badRequest: 0, headersTooLarge: 0, tooManyConnections: 0 };
  retries = 0;
  mirror = { sent: 0, skipped: 0, failed: 0 };

  constructor(readonly service: string) {}

  started(version: Version): void {
    this.byVersion[version].inFlight++;
  }

  finished(version: Version, status: number, seconds: number): void {
    const v = this.byVersion[version];
    v.inFlight--;
    const cls = Math.floor(status / 100) - 1;
    if (cls >= 0 && cls < 5) v.requests[cls]!++;
    v.latency.add(seconds);
  }

  /** A retry moved an in-flight request to another version. */
  inFlightMoved(from: Version, to: Version): void {
    this.byVersion[from].inFlight--;
    this.byVersion[to].inFlight++;
  }

  upstreamError(version: Version, kind: UpstreamError): void {
    this.byVersion[version].errors[UPSTREAM_ERRORS.indexOf(kind)]!++;
  }

  fallback(version: Version): void {
    this.byVersion[version].fallbacks++;
  }

  snapshot(revision: number, available: Record<Version, boolean>): StatsSnapshot {
    return {
      service: this.service,
      startedAt: this.startedAt,
      time: Date.now(),
      revision,
      workers: 1,
      versions: {
        stable: this.byVersion.stable.toJSON(),
        canary: this.byVersion.canary.toJSON(),
        baseline: this.byVersion.baseline.toJSON(),
      },
      rejected: { ...this.rejected },
      retries: this.retries,
      mirror: { ...this.mirror },
      available,
    };
  }
}

/** Adds snapshots from several workers into one, as if one process had served everything. */
export function mergeSnapshots(parts: readonly StatsSnapshot[]): StatsSnapshot {
  const [first, ...rest] = parts;
  if (!first) throw new Error('mergeSnapshots needs at least one snapshot');
  const out: StatsSnapshot = structuredClone(first);
  const sketches = Object.fromEntries(
    VERSIONS.map((v) => [v, LatencySketch.from(first.versions[v].latency)]),
  ) as Record<Version, LatencySketch>;
  for (const part of rest) {
    out.startedAt = Math.min(out.startedAt, part.startedAt);
    out.time = Math.max(out.time, part.time);
    out.revision = Math.max(out.revision, part.revision);
    out.workers += part.workers;
    for (const v of VERSIONS) {
      const [a, b] = [out.versions[v], part.versions[v]];
      for (const c of STATUS_CLASSES) a.requests[c] += b.requests[c];
      for (const e of UPSTREAM_ERRORS) a.upstreamErrors[e] += b.upstreamErrors[e];
      a.inFlight += b.inFlight;
      a.fallbacks += b.fallbacks;
      sketches[v].merge(b.latency);
    }
    for (const k of Object.keys(out.rejected) as (keyof StatsSnapshot['rejected'])[])
      out.rejected[k] += part.rejected[k];
    out.retries += part.retries;
    out.mirror.sent += part.mirror.sent;
    out.mirror.skipped += part.mirror.skipped;
    out.mirror.failed += part.mirror.failed;
    for (const v of VERSIONS) out.available[v] &&= part.available[v];
  }
  for (const v of VERSIONS) out.versions[v].latency = sketches[v].toJSON();
  return out;
}
