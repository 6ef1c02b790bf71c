/**
 * Is the sequential judge still honest on counts cut on a grid? Pure and seeded: one run
 * draws per-pod traffic in 100 ms ticks (each request assigned its version on its own, as
 * gatewayapi, istio and nginx weights do), then judges it twice for each scrape interval S:
 * (a) aligned — every pod scraped at the same instants, windows between scrapes, as one
 * target gives; (b) grid — each pod scraped at its own offset, windows cut by the Prometheus
 * source's own functions (scrapeInterval, gridEnds, countInWindow). Both feed the real
 * SequentialJudge with the default template's settings, as SequentialTest does.
 */
import { Random } from '../../src/analysis/stats/random.js';
import { SequentialJudge } from '../../src/analysis/judges/sequential/judge.js';
import type { SplitShares, VersionWindow } from '../../src/analysis/judges/sequential/window.js';
import { comparisonOf, type CountWindow } from '../../src/analysis/providers/counts.js';
import {
  countInWindow,
  gridEnds,
  joinUnsteady,
  scrapeInterval,
} from '../../src/analysis/providers/prometheus-rounds.js';
import { sequentialSettings } from '../../src/analysis/templates.js';
import { BUILTIN_TEMPLATES } from '../../src/config/templates.js';

const TICKS_PER_SECOND = 10;
const TICK_MS = 1000 / TICKS_PER_SECOND;
/** How long after a split is served before the engine holds windows to it (engine/traffic.ts). */
const SETTLE_MS = 2500;

export interface Scenario {
  name: string;
  /** Requests per second, all versions together, at second t. */
  rate: (t: number) => number;
  /** Each version's error rate at second t (a burst a shared dependency causes hits both). */
  errorRate: (version: 'canary' | 'stable', t: number) => number;
  /** Whether every rollback is a false one. */
  aa: boolean;
}

export interface Plan {
  /** The canary's weight (fraction) and how many seconds it is held, in order. */
  steps: { weight: number; seconds: number }[];
  pods: { canary: number; stable: number };
}

export const DEFAULT_PLAN: Plan = {
  steps: [
    { weight: 0.05, seconds: 600 },
    { weight: 0.25, seconds: 600 },
    { weight: 0.5, seconds: 600 },
  ],
  pods: { canary: 3, stable: 6 },
};

/** How windows are cut: aligned scrapes, or the grid `width` scrape intervals wide. */
export type Cut = { kind: 'aligned' } | { kind: 'grid'; width: number; steady?: boolean };

export interface Outcome {
  verdict: 'Failed' | 'Inconclusive' | 'Passed';
  /** Seconds from the start to when the deciding window could be read. */
  at?: number;
}

/** Seconds of stable-only traffic before the analysis starts, which the grid's lookback reads. */
const BEFORE = 60;

/** One run's timeline: when each step's weight was served (seconds; the first at 0) and the end. */
export interface Timeline {
  starts: number[];
  weights: number[];
  end: number;
}

/** The steps after the first are served at a phase of their own (a pause's end, a router's apply), not on the grid. */
export function timelineOf(plan: Plan, phase: number): Timeline {
  let at = 0;
  const starts = plan.steps.map((s, i) => {
    const start = i === 0 ? 0 : at + phase;
    at += s.seconds;
    return start;
  });
  return { starts, weights: plan.steps.map((s) => s.weight), end: at };
}

function weightAt(line: Timeline, t: number): number {
  let w = 0;
  line.starts.forEach((start, i) => {
    if (t >= start) w = line.weights[i]!;
  });
  return w;
}

/** One pod's cumulative counters at every tick boundary from BEFORE seconds before the start. */
interface Pod {
  version: 'canary' | 'stable';
  requests: Int32Array;
  errors: Int32Array;
}

/** The tick index of a time in seconds (the counters start BEFORE seconds early). */
const tick = (seconds: number) => Math.round((seconds + BEFORE) * TICKS_PER_SECOND);
const msOf = (k: number) => (k - BEFORE * TICKS_PER_SECOND) * TICK_MS;

/** Every pod's counters: each request lands on a version by the weight, then on one of its pods. */
export function drawTraffic(scenario: Scenario, plan: Plan, line: Timeline, random: Random): Pod[] {
  const ticks = tick(line.end);
  const pods: Pod[] = [];
  for (const version of ['canary', 'stable'] as const)
    for (let i = 0; i < plan.pods[version]; i++)
      pods.push({ version, requests: new Int32Array(ticks + 1), errors: new Int32Array(ticks + 1) });
  for (let k = 0; k < ticks; k++) {
    const t = msOf(k) / 1000;
    const w = weightAt(line, t);
    const perTick = scenario.rate(t) / TICKS_PER_SECOND;
    const p = { canary: scenario.errorRate('canary', t), stable: scenario.errorRate('stable', t) };
    for (const pod of pods) {
      const share = (pod.version === 'canary' ? w : 1 - w) / plan.pods[pod.version];
      const n = random.poisson(perTick * share);
      pod.requests[k + 1] = pod.requests[k]! + n;
      pod.errors[k + 1] = pod.errors[k]! + random.binomial(n, p[pod.version]);
    }
  }
  return pods;
}

/** The configured split all through (start, end] ms, as the engine answers expectedShareAt. */
function sharesDuring(line: Timeline, start: number, end: number): SplitShares | undefined {
  for (let i = 0; i < line.starts.length; i++) {
    const until = i + 1 < line.starts.length ? line.starts[i + 1]! * 1000 : Infinity;
    if (line.starts[i]! * 1000 + SETTLE_MS <= start && end <= until)
      return { requests: line.weights[i]!, keys: line.weights[i]!, control: 'stable' };
  }
  return undefined;
}

function versions(counts: Record<'canary' | 'stable', VersionWindow>): CountWindow['versions'] {
  return { ...counts, baseline: { requests: 0, errors: 0 } };
}

const zero = () => ({ canary: { requests: 0, errors: 0 }, stable: { requests: 0, errors: 0 } });

/** Aligned: every pod scraped at the same instants, one window between consecutive scrapes. */
export function alignedWindows(pods: Pod[], seconds: number, scrape: number): CountWindow[] {
  const out: CountWindow[] = [];
  for (let t = scrape; t <= seconds; t += scrape) {
    const [k0, k1] = [tick(t - scrape), tick(t)];
    const sum = zero();
    for (const pod of pods) {
      sum[pod.version].requests += pod.requests[k1]! - pod.requests[k0]!;
      sum[pod.version].errors += pod.errors[k1]! - pod.errors[k0]!;
    }
    out.push({ start: (t - scrape) * 1000, end: t * 1000, versions: versions(sum) });
  }
  return out;
}

/**
 * Grid: each pod scraped every `scrape` seconds from its own offset (ticks), counted as the
 * Prometheus source counts (prometheus-counts.ts). Gives the scrape interval the source
 * would find and the counts in any window, from the samples a query reaching back one
 * interval before it would return.
 */
export function gridCounter(pods: Pod[], seconds: number, scrape: number, offsets: readonly number[]) {
  const step = scrape * TICKS_PER_SECOND;
  const samples = pods.map((pod, i) => {
    const offset = offsets[i]!;
    const times: number[] = [];
    for (let k = offset; k <= tick(seconds); k += step) times.push(k);
    return { pod, offset, times };
  });
  const series = (times: number[], counter: Int32Array) => ({
    byTime: new Map(times.map((k) => [msOf(k), counter[k]!])),
  });
  const interval = scrapeInterval(samples.map((s) => series(s.times.slice(0, 20), s.pod.requests)))!;
  const index = (ms: number, offset: number) => Math.floor((ms / TICK_MS + BEFORE * TICKS_PER_SECOND - offset) / step);
  const count = ({ start, end }: { start: number; end: number }): CountWindow => {
    const sum = zero();
    for (const s of samples) {
      const near = s.times.slice(Math.max(0, index(start - interval, s.offset)), index(end, s.offset) + 1);
      sum[s.pod.version].requests += countInWindow(series(near, s.pod.requests), start, end, Infinity);
      sum[s.pod.version].errors += countInWindow(series(near, s.pod.errors), start, end, Infinity);
    }
    return { start, end, versions: versions(sum) };
  };
  return { interval, count };
}

/**
 * The windows the source gives: the grid (`width` intervals a window) from one window
 * before the start — the one the first is compared with — to the last that can be closed;
 * with `steady`, joined by joinUnsteady as prometheus-counts.ts joins them.
 */
export function gridWindows(
  pods: Pod[],
  seconds: number,
  scrape: number,
  offsets: readonly number[],
  cut: { width: number; steady?: boolean },
): CountWindow[] {
  const { interval, count } = gridCounter(pods, seconds, scrape, offsets);
  const from = -interval * cut.width;
  const ends = gridEnds(from, seconds * 1000 + interval, interval).filter((_, i) => (i + 1) % cut.width === 0);
  const [previous, ...grid] = ends.map((end, i) => count({ start: i === 0 ? from : ends[i - 1]!, end }));
  if (!cut.steady) return grid;
  const pooled = (w: CountWindow) => ({
    start: w.start,
    end: w.end,
    requests: w.versions.canary.requests + w.versions.stable.requests,
    errors: w.versions.canary.errors + w.versions.stable.errors,
  });
  return joinUnsteady(grid.map(pooled), pooled(previous!)).map(count);
}

export interface Judging {
  /** Seconds after a window's end that it can be read. */
  lag: number;
  /** How long before a window's start its counts may reach (ms): a scrape interval on a grid. */
  reach: number;
  /**
   * Leave out windows whose counts may mix two splits (a thinning the schedule decides, as
   * the per-user test does); otherwise the judge counts them with their observed share.
   */
  skipMixed?: boolean;
  trace?: (w: CountWindow, eValue: number) => void;
}

/** The real judge, fed as SequentialTest feeds it, until it fails, pauses, or the plan ends. */
export function judge(windows: CountWindow[], line: Timeline, o: Judging): Outcome {
  const judge = new SequentialJudge(sequentialSettings(BUILTIN_TEMPLATES['sequential']!.sequential!));
  for (const window of windows) {
    const shares = sharesDuring(line, window.start - o.reach, window.end);
    if (o.skipMixed && !shares) continue;
    const w = comparisonOf(window, shares);
    w.assignment = 'request';
    judge.observe(w);
    o.trace?.(window, judge.report().metrics[0]!.eValue);
    const verdict = judge.verdict();
    if (verdict === 'Failed' || verdict === 'Inconclusive') return { verdict, at: window.end / 1000 + o.lag };
  }
  return { verdict: 'Passed' };
}

/** One run of a scenario: the same traffic judged under every scrape interval and cut. */
export function runOnce(
  scenario: Scenario,
  plan: Plan,
  scrapes: readonly number[],
  cuts: readonly Cut[],
  seed: number,
  skipMixed = false,
): Map<string, Outcome> {
  const random = new Random(seed);
  const line = timelineOf(plan, random.uniform() * 15);
  const pods = drawTraffic(scenario, plan, line, random);
  const out = new Map<string, Outcome>();
  for (const scrape of scrapes) {
    // Each pod's scrape offset, in ticks, the same for every grid cut: the cuts are compared on the same scrapes.
    const offsets = pods.map(() => Math.floor(random.uniform() * scrape * TICKS_PER_SECOND));
    for (const cut of cuts) {
      if (cut.kind === 'aligned') {
        out.set(
          cellName(scrape, cut),
          judge(alignedWindows(pods, line.end, scrape), line, { lag: 0, reach: 0, skipMixed }),
        );
        continue;
      }
      const windows = gridWindows(pods, line.end, scrape, offsets, cut);
      // A grid window is read one scrape interval after its end (gridEnds); a joined one once the next is, at most.
      const lag = cut.steady ? 2 * scrape * cut.width : scrape;
      // Skipping mixed windows needs to know how far back a window's counts reach; the engine is told only its start.
      out.set(cellName(scrape, cut), judge(windows, line, { lag, reach: skipMixed ? scrape * 1000 : 0, skipMixed }));
    }
  }
  return out;
}

export function cellName(scrape: number, cut: Cut): string {
  return `S=${scrape}s ${cut.kind === 'aligned' ? 'aligned' : `grid×${cut.width}${cut.steady ? ' steady' : ''}`}`;
}

/**
 * The scenarios of docs/analysis.md's table, at 1,000 requests/s and 0.1% errors; `phase`
 * (0..1) places the bursts (5 s at 20% errors on both versions, every `burstEvery` s) and
 * the diurnal curve (200 to 1,800 requests/s) in each run.
 */
export function scenarios(phase: number, burstEvery = 180): Scenario[] {
  const base = 0.001;
  const steady = () => 1000;
  const inBurst = (t: number) => (((t + phase * burstEvery) % burstEvery) + burstEvery) % burstEvery < 5;
  return [
    { name: 'A/A steady', aa: true, rate: steady, errorRate: () => base },
    { name: 'A/A bursts', aa: true, rate: steady, errorRate: (_, t) => (inBurst(t) ? 0.2 : base) },
    {
      name: 'A/A diurnal',
      aa: true,
      rate: (t) => 1000 * (1 + 0.8 * Math.sin(2 * Math.PI * (t / 1800 + phase))),
      errorRate: () => base,
    },
    { name: 'canary 2× errors', aa: false, rate: steady, errorRate: (v) => (v === 'canary' ? 2 * base : base) },
    { name: 'canary 10× errors', aa: false, rate: steady, errorRate: (v) => (v === 'canary' ? 10 * base : base) },
  ];
}
