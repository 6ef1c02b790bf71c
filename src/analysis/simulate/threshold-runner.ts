/** A threshold template in the simulator: builtin queries answered from synthetic seconds. */
import type { BuiltinQuery, ThresholdMetric } from '../../config/schemas/analysis.js';
import {
  compileConditions,
  emptyState,
  measurementDueAt,
  metricPhase,
  overallPhase,
  recordOutcome,
  thresholdSettings,
  type CompiledConditions,
  type Outcome,
  type ThresholdSettings,
  type ThresholdState,
} from '../judges/threshold/judge.js';
import type { ComparisonWindow, VersionWindow } from '../judges/sequential/window.js';
import type { Runner } from './runner.js';
import { signalValue } from '../providers/builtin.js';
import { SyntheticLatency } from './traffic.js';

/** One side's requests since the last measurement; latency is the last second's distribution. */
export interface Totals {
  requests: number;
  errors: number;
  last?: SyntheticLatency;
}

interface MetricRun {
  metric: ThresholdMetric;
  settings: ThresholdSettings;
  conditions: CompiledConditions;
  state: ThresholdState;
  canary: Totals;
  control: Totals;
}

export class ThresholdRunner implements Runner {
  private readonly metrics: MetricRun[];

  constructor(metrics: readonly ThresholdMetric[]) {
    this.metrics = metrics.map((metric) => ({
      metric,
      settings: thresholdSettings(metric),
      conditions: compileConditions(metric),
      state: emptyState(),
      canary: { requests: 0, errors: 0 },
      control: { requests: 0, errors: 0 },
    }));
  }

  observe(second: number, w: ComparisonWindow): void {
    for (const m of this.metrics) {
      addWindow(m.canary, w.canary);
      addWindow(m.control, w.control);
      const due = measurementDueAt(m.settings, m.state);
      if (due === undefined || second + 1 < due) continue;
      const query = m.metric.provider.builtin!;
      const control = syntheticValue(query, m.control);
      const scope = control.kind === 'value' ? { control: control.value } : {};
      m.state = recordOutcome(
        m.state,
        m.conditions,
        syntheticValue(query, query.version === 'canary' ? m.canary : m.control),
        second + 1,
        scope,
      );
      m.canary = { requests: 0, errors: 0 };
      m.control = { requests: 0, errors: 0 };
    }
  }

  decision(): 'rollback' | 'pause' | 'continue' {
    const phase = overallPhase(
      this.metrics.map((m) => ({ phase: metricPhase(m.settings, m.state), dryRun: m.settings.dryRun })),
    );
    return phase === 'Failed' || phase === 'Error' ? 'rollback' : phase === 'Inconclusive' ? 'pause' : 'continue';
  }

  reason(): string {
    const failing = this.metrics.find(
      (m) => metricPhase(m.settings, m.state) !== 'Running' && metricPhase(m.settings, m.state) !== 'Successful',
    );
    if (!failing) return 'all measurements passed';
    const last = failing.state.measurements.at(-1);
    return `${failing.metric.name}: ${metricPhase(failing.settings, failing.state)} after ${failing.state.failed} failed measurement(s); last value ${String(last?.value)}`;
  }
}

/** A builtin query answered from synthetic totals, as the router's stats would answer it. */
export function syntheticValue(q: BuiltinQuery, totals: Totals): Outcome {
  if (q.version === 'baseline') return { kind: 'empty', message: 'this simulation has no baseline' };
  return signalValue(q, totals.requests, totals.errors, (level) =>
    totals.last!.sampledQuantile(level, totals.requests),
  );
}

export function addWindow(totals: Totals, w: VersionWindow): void {
  totals.requests += w.requests;
  totals.errors += w.errors;
  if (w.latency instanceof SyntheticLatency) totals.last = w.latency;
}
