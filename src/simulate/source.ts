/**
 * Synthetic traffic as a `MeasurementSource` and a `CountSource`: the seconds the
 * simulator generated, kept as running totals per version, so the real analysis runs ask
 * it what they would ask the router's stats and the builtin provider. Second i covers (i s, i+1 s]. Latency over
 * a window is the last second's distribution, sampled with the window's request count.
 */
import type { ProviderQuery } from '../config/schemas/analysis.js';
import type { AnalysisTemplateSpec } from '../config/schemas/analysis.js';
import type { MeasurementSource } from '../analysis/judging/judge.js';
import type { SplitShares, VersionWindow } from '../analysis/judges/sequential/window.js';
import type { CountSource, CountsResult, CountWindow } from '../analysis/providers/counts.js';
import { signalValue } from '../analysis/providers/builtin.js';
import type { MetricResult, TimeWindow } from '../analysis/providers/types.js';
import { SyntheticLatency } from './traffic.js';

type Version = 'stable' | 'canary' | 'baseline';

/** One second of traffic, by the role each version has in the routing table. */
export interface TrafficSecond {
  canary: VersionWindow;
  stable: VersionWindow;
  baseline?: VersionWindow;
  /** The canary's configured share of canary + control (requests and keys), when a canary serves. */
  shares?: SplitShares;
}

interface Totals {
  /** requests[i], errors[i]: over seconds 0…i−1. */
  requests: number[];
  errors: number[];
  latency: (SyntheticLatency | undefined)[];
}

const NO_REQUESTS: VersionWindow = { requests: 0, errors: 0 };

export class SyntheticSource implements MeasurementSource, CountSource {
  readonly name = 'builtin';
  /** The simulated router keeps each user on its bucket's version, as kanari's does. */
  readonly assignment = 'key';
  private readonly seconds: TrafficSecond[] = [];
  private readonly totals: Record<Version, Totals> = {
    stable: { requests: [0], errors: [0], latency: [] },
    canary: { requests: [0], errors: [0], latency: [] },
    baseline: { requests: [0], errors: [0], latency: [] },
  };
  private baselineServing = false;

  add(second: TrafficSecond): void {
    this.seconds.push(second);
    for (const v of ['stable', 'canary', 'baseline'] as const) {
      const t = this.totals[v];
      const w = second[v];
      t.requests.push(t.requests.at(-1)! + (w?.requests ?? 0));
      t.errors.push(t.errors.at(-1)! + (w?.errors ?? 0));
      t.latency.push(w?.latency instanceof SyntheticLatency ? w.latency : t.latency.at(-1));
    }
    this.baselineServing = (second.baseline?.requests ?? 0) > 0;
  }

  hasBaseline(): boolean {
    return this.baselineServing;
  }

  /** The split of the window's seconds; traffic moves only between seconds, so a one-second window never mixes two. */
  expectedShareAt(start: number, end: number): SplitShares | undefined {
    const [from, to] = this.range({ start, end });
    const shares = new Set(this.seconds.slice(from, to).map((s) => JSON.stringify(s.shares ?? null)));
    return shares.size === 1 ? ((JSON.parse([...shares][0]!) as SplitShares | null) ?? undefined) : undefined;
  }

  /** The synthetic seconds stand in for the router's stats; a template that counts from Prometheus has none. */
  counts(spec: NonNullable<AnalysisTemplateSpec['sequential']>): CountSource | undefined {
    return spec.source?.prometheus ? undefined : this;
  }

  windows(after: number, until: number): Promise<CountsResult> {
    const windows: CountWindow[] = [];
    const [from, to] = this.range({ start: after, end: until });
    for (let i = from; i < to; i++) {
      const s = this.seconds[i]!;
      windows.push({
        start: i * 1000,
        end: (i + 1) * 1000,
        versions: { canary: s.canary, stable: s.stable, baseline: s.baseline ?? NO_REQUESTS },
      });
    }
    return Promise.resolve({ kind: 'value', windows });
  }

  query(q: ProviderQuery, window: TimeWindow, options: { step?: number } = {}): Promise<MetricResult> {
    if (!q.builtin) return Promise.resolve({ kind: 'error', message: 'the simulator answers builtin queries only' });
    const query = q.builtin;
    if (options.step === undefined) return Promise.resolve(this.value(query, window));
    const series: number[] = [];
    for (let start = window.start; start < window.end; start += options.step) {
      const r = this.value(query, { start, end: Math.min(window.end, start + options.step) });
      series.push(r.kind === 'value' ? (r.value as number) : NaN);
    }
    if (series.every((x) => Number.isNaN(x)))
      return Promise.resolve({ kind: 'empty', message: `no ${query.version} requests in the window` });
    return Promise.resolve({ kind: 'value', value: series, series });
  }

  private value(query: NonNullable<ProviderQuery['builtin']>, window: TimeWindow): MetricResult {
    const t = this.totals[query.version];
    const [from, to] = this.range(window);
    const requests = t.requests[to]! - t.requests[from]!;
    const errors = t.errors[to]! - t.errors[from]!;
    return signalValue(query, requests, errors, (level) => t.latency[to - 1]!.sampledQuantile(level, requests));
  }

  /** The seconds whose end lies in (start, end], as indices [from, to). */
  private range(window: TimeWindow): [number, number] {
    const to = Math.min(this.seconds.length, Math.floor(window.end / 1000));
    return [Math.min(to, Math.max(0, Math.floor(window.start / 1000))), to];
  }
}
