/**
 * Runs a rollout plan on a virtual clock against synthetic traffic, many times over: the
 * real state machine on the real plan, judged by the real analysis runs. A Simulation
 * either names a Rollout (its plan and analyses, as they are) or gives setWeight and pause
 * steps, run once per template as a canary with that template in the background. Each run
 * is seeded by its number, so every template sees the same traffic until their rollouts differ.
 */
import type { AnalysisTemplateSpec } from '../config/schemas/analysis.js';
import { rolloutSpec } from '../config/schemas/rollout.js';
import type { SimulationSpec } from '../config/schemas/simulation.js';
import { BUILTIN_TEMPLATES, providersOf } from '../config/templates.js';
import { planOf } from '../rollout/strategies/index.js';
import { regressingClients } from './clients.js';
import { detectionLimit, keyLimit, type KeyLimit, type Limit } from './limits.js';
import { runOnce, type RunResult, type Variant } from './run.js';
import { canaryAt, toBehaviour, worse } from './scenario.js';

export interface TemplateSummary {
  name: string;
  runs: number;
  rollbacks: number;
  pauses: number;
  promotions: number;
  /** Seconds from users first meeting the canary gone bad to its rollback, over the runs that rolled back. */
  timeToRollback?: { median: number; p90: number };
  /** Mean extra failed requests served by the canary, beyond stable's error rate, before rollback or the end. */
  extraErrors: number;
  /** One example reason, from the first run that rolled back or paused. */
  example?: string;
}

export interface SimulationReport {
  /** The plan simulated: the kind of the Rollout named, or steps run under each template. */
  plan: string;
  /** Whether the canary was ever worse than stable: decides whether a rollback is a catch or a false alarm. */
  canaryIsWorse: boolean;
  /** When the canary went bad (seconds after the deploy). */
  onset?: number;
  /** The plan's length as written (steps), or the longest run (a Rollout). */
  seconds: number;
  templates: TemplateSummary[];
  limit?: Limit;
  /** Where a regression rides on a few keys (clients): the fewest failing keys any test needs. */
  keyLimit?: KeyLimit;
}

/** The plans a Simulation runs: a Rollout as it is, or its steps once per template. */
export function variantsOf(
  spec: SimulationSpec,
  templates: readonly { name: string; spec: AnalysisTemplateSpec }[] = [],
): Variant[] {
  const loaded = spec.rollout?.loaded;
  if (loaded) {
    const { document } = loaded;
    return [
      {
        name: document.metadata.name,
        rollout: document.spec,
        templates: { ...BUILTIN_TEMPLATES, ...byName(templates), ...loaded.templates },
      },
    ];
  }
  return templates.map((t) => ({
    name: t.name,
    rollout: rolloutSpec.parse({
      listen: 1,
      stable: { version: 'stable', upstreams: ['http://127.0.0.1:1'] },
      canary: { version: 'canary', upstreams: ['http://127.0.0.1:1'] },
      strategy: {
        canary: {
          // The rollout schema reads durations as written, so the steps' milliseconds are written out.
          steps: spec.steps!.map((s) => (s.pause ? { pause: { duration: `${s.pause.duration}ms` } } : s)),
          analysis: { templates: [t.name] },
        },
      },
    }),
    templates: { [t.name]: t.spec },
  }));
}

function byName(templates: readonly { name: string; spec: AnalysisTemplateSpec }[]) {
  return Object.fromEntries(templates.map((t) => [t.name, t.spec]));
}

/** Templates the simulator cannot answer (it has only the builtin provider), as a reason; undefined when all can run. */
export function unanswerable(variant: Variant): string | undefined {
  for (const [name, t] of Object.entries(variant.templates)) {
    const others = providersOf(t).filter((p) => p !== 'builtin');
    if (others.length > 0 && usedBy(variant, name))
      return `template "${name}" reads ${others.join(' and ')}; the simulator answers builtin queries only`;
  }
  return undefined;
}

function usedBy(variant: Variant, name: string): boolean {
  const plan = planOf(variant.rollout);
  return (
    plan.background?.templates.includes(name) === true || plan.steps.some((s) => s.analysis?.templates.includes(name))
  );
}

export async function simulate(
  spec: SimulationSpec,
  templates: { name: string; spec: AnalysisTemplateSpec }[],
  runs = spec.runs,
): Promise<SimulationReport> {
  const variants = variantsOf(spec, templates);
  const stable = toBehaviour(spec.stable);
  const canary = canaryAt(spec);
  const horizon = spec.steps ? planSeconds(spec.steps) : Math.ceil(spec.duration / 1000);
  let onset: number | undefined;
  for (let t = 0; t < horizon && onset === undefined; t++) if (worse(canary(t), stable)) onset = t;
  const carriers = regressingClients(spec.traffic, stable.errorRate);
  if (onset === undefined && carriers.length > 0)
    onset = Math.min(...carriers.map((c) => (c.active?.offset ?? 0) / 1000));

  const results: RunResult[][] = variants.map(() => []);
  for (let run = 0; run < runs; run++) {
    const seed = spec.seed * 1_000_003 + run;
    for (const [i, variant] of variants.entries())
      results[i]!.push(await runOnce(variant, { spec, stable, canary }, seed));
  }

  const first = results[0]?.[0];
  const exposed = first?.exposedAt ?? onset;
  const onsetShare = exposed === undefined ? 0 : (first?.canaryShare[exposed] ?? 0);
  const sequential = variants.flatMap((v) => Object.values(v.templates)).find((t) => t.sequential);
  const alpha = sequential?.sequential?.alpha ?? 0.05;
  const at = onset === undefined ? undefined : canary(onset);
  const limit =
    at &&
    detectionLimit({
      alpha,
      canaryRate: spec.traffic.rate * onsetShare,
      errorRates: [stable.errorRate, at.errorRate],
      latency: { medians: [stable.latency.median, at.latency.median], sigma: stable.latency.sigma },
    });
  const keys =
    carriers.length > 0
      ? keyLimit({
          alpha,
          keyShare: onsetShare,
          carriers: carriers.map((c) => ({
            onCanary: c.bucket === 'random' ? onsetShare : c.bucket < onsetShare * 10_000 ? 1 : 0,
            failures: c.rate * c.canary!.errorRate * (c.active ? c.active.for / c.active.every : 1),
          })),
        })
      : undefined;
  const longest = Math.max(0, ...results.flat().map((r) => r.seconds));
  return {
    plan: spec.rollout?.loaded ? planOf(spec.rollout.loaded.document.spec).kind : 'steps',
    canaryIsWorse: onset !== undefined,
    ...(onset !== undefined ? { onset } : {}),
    seconds: spec.steps ? horizon : longest,
    templates: variants.map((v, i) => summarise(v.name, results[i]!, onset)),
    ...(limit ? { limit } : {}),
    ...(keys ? { keyLimit: keys } : {}),
  };
}

function summarise(name: string, results: readonly RunResult[], onset: number | undefined): TemplateSummary {
  const times = results
    .filter((r) => r.outcome === 'rolledBack')
    .map((r) => r.rollbackAt! - (r.exposedAt ?? onset ?? 0))
    .sort((a, b) => a - b);
  const example = results.find((r) => r.outcome === 'rolledBack' || r.outcome === 'paused')?.reason;
  return {
    name,
    runs: results.length,
    rollbacks: results.filter((r) => r.outcome === 'rolledBack').length,
    pauses: results.filter((r) => r.outcome === 'paused').length,
    promotions: results.filter((r) => r.outcome === 'promoted').length,
    ...(times.length > 0 ? { timeToRollback: { median: quantileOf(times, 0.5), p90: quantileOf(times, 0.9) } } : {}),
    extraErrors: results.reduce((sum, r) => sum + r.extraErrors, 0) / Math.max(1, results.length),
    ...(example ? { example } : {}),
  };
}

/** How long setWeight and pause steps take as written. */
function planSeconds(steps: NonNullable<SimulationSpec['steps']>): number {
  return steps.reduce((sum, s) => sum + Math.round((s.pause?.duration ?? 0) / 1000), 0);
}

/** The lower median for even counts, so a reported time is one a run really had. */
function quantileOf(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
