/**
 * The controller's own metrics in the Prometheus text format: where each rollout is
 * (phase, weight, step), what its analyses decided, how long rollouts took, and how
 * far behind schedule the controller runs. Rebuilt from the views and the store on each
 * scrape, so they survive a restart as the state does.
 */
import { escapeLabel } from '../router/metrics.js';
import type { Store } from '../store/sqlite.js';
import { PHASES } from '../rollout/types.js';
import type { RolloutView } from './view.js';

/** Seconds from deploy to the end of a rollout: a few seconds for a fast rollback to hours for a careful plan. */
const DURATION_BUCKETS = [5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600];

/** Seconds a round may start late: well inside the 1 s interval up to several intervals behind. */
const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class LagHistogram {
  readonly counts = LAG_BUCKETS.map(() => 0);
  count = 0;
  sum = 0;
  max = 0;

  observe(seconds: number): void {
    LAG_BUCKETS.forEach((le, i) => {
      if (seconds <= le) this.counts[i]!++;
    });
    this.count++;
    this.sum += seconds;
    this.max = Math.max(this.max, seconds);
  }
}

export function renderControllerMetrics(
  views: RolloutView[],
  store: Store,
  lags: Map<string, number>,
  roundLag: LagHistogram,
): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string) =>
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  const l = (labels: Record<string, string>) =>
    `{${Object.entries(labels)
      .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
      .join(',')}}`;

  family('kanari_rollout_info', 'gauge', 'One per rollout, naming the versions it runs.');
  for (const v of views)
    out.push(`kanari_rollout_info${l({ rollout: v.name, stable: v.stable, canary: v.canary ?? '' })} 1`);
  family('kanari_rollout_phase', 'gauge', '1 for the phase each rollout is in, 0 for the others.');
  for (const v of views)
    for (const p of PHASES)
      out.push(`kanari_rollout_phase${l({ rollout: v.name, phase: p })} ${v.phase === p ? 1 : 0}`);
  family('kanari_rollout_weight_percent', 'gauge', 'Percent of users each version is meant to get.');
  for (const v of views)
    for (const [version, w] of Object.entries(v.weights))
      out.push(`kanari_rollout_weight_percent${l({ rollout: v.name, version })} ${w}`);
  family(
    'kanari_rollout_step',
    'gauge',
    'The step being carried out (0-based; equal to kanari_rollout_steps once all are done).',
  );
  for (const v of views) out.push(`kanari_rollout_step${l({ rollout: v.name })} ${v.step}`);
  family('kanari_rollout_steps', 'gauge', 'Steps in the rollout plan.');
  for (const v of views) out.push(`kanari_rollout_steps${l({ rollout: v.name })} ${v.steps.length}`);
  family('kanari_rollout_revision', 'gauge', 'Deploys so far.');
  for (const v of views) out.push(`kanari_rollout_revision${l({ rollout: v.name })} ${v.revision}`);
  family('kanari_analysis_score', 'gauge', 'Score (0-100, higher is better) of each running analysis.');
  for (const v of views)
    for (const a of v.analyses)
      if (a.endedAt === undefined && a.score !== undefined)
        out.push(`kanari_analysis_score${l({ rollout: v.name, template: a.template, scope: a.scope })} ${a.score}`);

  family('kanari_analysis_runs_total', 'counter', 'Finished analysis runs by verdict.');
  for (const c of store.verdictCounts())
    out.push(`kanari_analysis_runs_total${l({ rollout: c.rollout, template: c.template, verdict: c.verdict })} ${c.n}`);

  family(
    'kanari_rollout_duration_seconds',
    'histogram',
    'Time from deploy to the end of each finished rollout, by outcome.',
  );
  const groups = new Map<string, number[]>();
  for (const r of store.results()) {
    const key = JSON.stringify([r.rollout, r.outcome]);
    groups.set(key, [...(groups.get(key) ?? []), r.seconds]);
  }
  for (const [key, seconds] of groups) {
    const [rollout, outcome] = JSON.parse(key) as [string, string];
    for (const le of DURATION_BUCKETS)
      out.push(
        `kanari_rollout_duration_seconds_bucket${l({ rollout, outcome, le: String(le) })} ${seconds.filter((s) => s <= le).length}`,
      );
    out.push(`kanari_rollout_duration_seconds_bucket${l({ rollout, outcome, le: '+Inf' })} ${seconds.length}`);
    out.push(`kanari_rollout_duration_seconds_sum${l({ rollout, outcome })} ${seconds.reduce((a, b) => a + b, 0)}`);
    out.push(`kanari_rollout_duration_seconds_count${l({ rollout, outcome })} ${seconds.length}`);
  }

  family(
    'kanari_controller_last_round_lag_seconds',
    'gauge',
    'How late the last round of each rollout started after its slot.',
  );
  for (const [rollout, ms] of lags) out.push(`kanari_controller_last_round_lag_seconds${l({ rollout })} ${ms / 1000}`);
  family(
    'kanari_controller_round_lag_seconds',
    'histogram',
    'How late each round (sample, reconcile, analyses) of every rollout started after its slot.',
  );
  LAG_BUCKETS.forEach((le, i) =>
    out.push(`kanari_controller_round_lag_seconds_bucket{le="${le}"} ${roundLag.counts[i]}`),
  );
  out.push(
    `kanari_controller_round_lag_seconds_bucket{le="+Inf"} ${roundLag.count}`,
    `kanari_controller_round_lag_seconds_sum ${roundLag.sum}`,
    `kanari_controller_round_lag_seconds_count ${roundLag.count}`,
  );
  family(
    'kanari_controller_round_lag_max_seconds',
    'gauge',
    'The latest any round has started since the controller started.',
  );
  out.push(`kanari_controller_round_lag_max_seconds ${roundLag.max}`);
  return out.join('\n') + '\n';
}
