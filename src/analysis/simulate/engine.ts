/**
 * Runs a rollout plan and analysis templates on a virtual clock against synthetic traffic,
 * many times over. Every template sees the same seconds of traffic in a run (common random
 * numbers), so differences between templates are theirs, not the dice's.
 */
import type { AnalysisTemplateSpec } from '../../config/schemas/analysis.js';
import type { SimulationSpec, Step } from '../../config/schemas/simulation.js';
import { SequentialJudge } from '../judges/sequential/judge.js';
import type { ComparisonWindow, VersionWindow } from '../judges/sequential/window.js';
import { detectionLimit, type Limit } from './limits.js';
import { Random } from './random.js';
import { sampleVersion, SyntheticLatency, type VersionBehaviour } from './traffic.js';
import { sequentialSettings } from '../templates.js';
import { ThresholdRunner } from './threshold-runner.js';
import { KayentaRunner } from './kayenta-runner.js';
import type { Runner } from './runner.js';

export function runnerFor(spec: AnalysisTemplateSpec): Runner {
  if (spec.sequential) {
    const judge = new SequentialJudge(sequentialSettings(spec.sequential));
    return {
      observe: (_second, w) => judge.observe(w),
      decision: () => {
        const v = judge.verdict();
        return v === 'Failed' ? 'rollback' : v === 'Inconclusive' ? 'pause' : 'continue';
      },
      reason: () => judge.report().reason,
    };
  }
  if (spec.kayenta) return new KayentaRunner(spec.kayenta);
  return new ThresholdRunner(spec.threshold!.metrics);
}

interface Segment {
  start: number;
  end: number;
  weight: number;
}

/** The plan as weight over time: each pause holds the weight the steps before it set. */
export function timeline(steps: readonly Step[]): { segments: Segment[]; seconds: number } {
  const segments: Segment[] = [];
  let weight = 0;
  let t = 0;
  for (const step of steps) {
    if (step.setWeight !== undefined) weight = step.setWeight;
    else if (step.pause) {
      const seconds = Math.round(step.pause.duration / 1000);
      segments.push({ start: t, end: t + seconds, weight });
      t += seconds;
    }
  }
  return { segments, seconds: t };
}

function toBehaviour(b: { errorRate: number; latency: { median: number; sigma: number } }): VersionBehaviour {
  return { errorRate: b.errorRate, latency: { median: b.latency.median / 1000, sigma: b.latency.sigma } };
}

/** The canary's behaviour at each change point, from the spec. */
function canaryAt(spec: SimulationSpec): (second: number) => VersionBehaviour {
  const initial = toBehaviour(spec.canary ?? spec.stable);
  const changes = [...(spec.canary?.changes ?? [])].sort((a, b) => a.at - b.at);
  const states: { from: number; behaviour: VersionBehaviour }[] = [{ from: 0, behaviour: initial }];
  for (const c of changes) {
    const prev = states.at(-1)!.behaviour;
    states.push({
      from: c.at / 1000,
      behaviour: {
        errorRate: c.errorRate ?? prev.errorRate,
        latency: c.latency ? { median: c.latency.median / 1000, sigma: c.latency.sigma } : prev.latency,
      },
    });
  }
  return (second) => {
    let current = states[0]!.behaviour;
    for (const s of states) if (s.from <= second) current = s.behaviour;
    return current;
  };
}

function worse(canary: VersionBehaviour, stable: VersionBehaviour): boolean {
  return (
    canary.errorRate > stable.errorRate ||
    canary.latency.median > stable.latency.median ||
    canary.latency.sigma > stable.latency.sigma
  );
}

export interface TemplateSummary {
  name: string;
  runs: number;
  rollbacks: number;
  pauses: number;
  /** Seconds from the canary going bad to its rollback, over the runs that rolled back. */
  timeToRollback?: { median: number; p90: number };
  /** Mean extra failed requests served by the canary, beyond stable's error rate, before rollback or the end. */
  extraErrors: number;
  /** One example reason, from the first run that rolled back or paused. */
  example?: string;
}

export interface SimulationReport {
  /** Whether the canary was ever worse than stable: decides whether a rollback is a catch or a false alarm. */
  canaryIsWorse: boolean;
  /** When the canary went bad (seconds into the plan). */
  onset?: number;
  seconds: number;
  templates: TemplateSummary[];
  limit?: Limit;
}

export function simulate(
  spec: SimulationSpec,
  templates: { name: string; spec: AnalysisTemplateSpec }[],
  runs = spec.runs,
): SimulationReport {
  const { segments, seconds } = timeline(spec.steps);
  const stable = toBehaviour(spec.stable);
  const canary = canaryAt(spec);
  let onset: number | undefined;
  for (let t = 0; t < seconds && onset === undefined; t++) if (worse(canary(t), stable)) onset = t;
  const weightAt = (t: number) => segments.find((s) => t >= s.start && t < s.end)?.weight ?? 0;

  const results = templates.map(() => ({
    times: [] as number[],
    rollbacks: 0,
    pauses: 0,
    extra: 0,
    example: undefined as string | undefined,
  }));
  for (let run = 0; run < runs; run++) {
    const random = new Random(spec.seed * 1_000_003 + run);
    const runners = templates.map((t) => runnerFor(t.spec));
    const active = runners.map(() => true);
    const extra = runners.map(() => 0);
    let burst: { version: 'canary' | 'stable'; until: number } | undefined;
    for (let t = 0; t < seconds && active.some(Boolean); t++) {
      const w = weightAt(t) / 100;
      const d = spec.traffic.diurnal;
      const rate = spec.traffic.rate * (d ? 1 + d.amplitude * Math.sin((2 * Math.PI * t) / (d.period / 1000)) : 1);
      const now = canary(t);
      const canaryWindow = sampleVersion(random, random.poisson(rate * w), now);
      const stableWindow = sampleVersion(random, random.poisson(rate * (1 - w)), stable);
      const b = spec.traffic.bursts;
      if (b) {
        if (t % Math.round(b.every / 1000) === 0 && t > 0)
          burst = { version: random.uniform() < w ? 'canary' : 'stable', until: t + Math.round(b.duration / 1000) };
        if (burst && t < burst.until)
          addBurst(
            random,
            burst.version === 'canary' ? canaryWindow : stableWindow,
            b.rate,
            b.errorRate ?? (burst.version === 'canary' ? now : stable).errorRate,
            burst.version === 'canary' ? now : stable,
          );
      }
      const window: ComparisonWindow = {
        canary: canaryWindow,
        control: stableWindow,
        ...(w > 0 && w < 1 ? { expectedShare: w } : {}),
      };
      runners.forEach((runner, i) => {
        if (!active[i]) return;
        extra[i]! += canaryWindow.requests * Math.max(0, now.errorRate - stable.errorRate);
        runner.observe(t, window);
        const decision = runner.decision();
        if (decision === 'continue') return;
        active[i] = false;
        const r = results[i]!;
        r.example ??= runner.reason();
        if (decision === 'pause') r.pauses++;
        else {
          r.rollbacks++;
          r.times.push(t + 1 - (onset ?? 0));
        }
      });
    }
    extra.forEach((e, i) => (results[i]!.extra += e));
  }

  const onsetWeight = onset === undefined ? 0 : weightAt(onset) / 100;
  const alpha = templates.find((t) => t.spec.sequential)?.spec.sequential?.alpha ?? 0.05;
  const at = onset === undefined ? undefined : canary(onset);
  const limit =
    at &&
    detectionLimit({
      alpha,
      canaryRate: spec.traffic.rate * onsetWeight,
      errorRates: [stable.errorRate, at.errorRate],
      latency: { medians: [stable.latency.median, at.latency.median], sigma: stable.latency.sigma },
    });
  return {
    canaryIsWorse: onset !== undefined,
    ...(onset !== undefined ? { onset } : {}),
    seconds,
    templates: templates.map((t, i) => {
      const r = results[i]!;
      const sorted = [...r.times].sort((a, b) => a - b);
      return {
        name: t.name,
        runs,
        rollbacks: r.rollbacks,
        pauses: r.pauses,
        ...(sorted.length > 0
          ? { timeToRollback: { median: quantileOf(sorted, 0.5), p90: quantileOf(sorted, 0.9) } }
          : {}),
        extraErrors: r.extra / runs,
        ...(r.example ? { example: r.example } : {}),
      };
    }),
    ...(limit ? { limit } : {}),
  };
}

function addBurst(
  random: Random,
  window: VersionWindow,
  rate: number,
  errorRate: number,
  behaviour: VersionBehaviour,
): void {
  const n = random.poisson(rate);
  window.requests += n;
  window.errors += random.binomial(n, errorRate);
  window.latency = new SyntheticLatency(random, window.requests, behaviour.latency.median, behaviour.latency.sigma);
}

/** The lower median for even counts, so a reported time is one a run really had. */
function quantileOf(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
