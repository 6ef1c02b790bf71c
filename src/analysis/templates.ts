/**
 * Built-in analysis templates, as data. `sequential` is kanari's default; `threshold`
 * is what a Flagger user gets from its built-in checks (request success rate ≥ 99% and
 * p99 ≤ 500 ms, every minute, rolling back on the fifth failed check).
 */
import type { AnalysisTemplateSpec } from '../config/schemas/analysis.js';
import { analysisTemplateSpec } from '../config/schemas/analysis.js';
import type { SequentialSettings } from './judges/sequential/judge.js';

export const BUILTIN_TEMPLATES: Record<string, AnalysisTemplateSpec> = {
  sequential: analysisTemplateSpec.parse({ sequential: {} }),
  threshold: analysisTemplateSpec.parse({
    threshold: {
      metrics: [
        { name: 'request-success-rate', provider: { builtin: { signal: 'successRate' } }, interval: '1m', failureLimit: 4, successCondition: 'result >= 0.99' },
        { name: 'request-duration', provider: { builtin: { signal: 'latency', quantile: 0.99 } }, interval: '1m', failureLimit: 4, successCondition: 'result <= 0.5' },
      ],
    },
  }),
};

/** A template's sequential spec as the judge takes it: durations in the file are milliseconds, the judge works in seconds. */
export function sequentialSettings(spec: NonNullable<AnalysisTemplateSpec['sequential']>): SequentialSettings {
  return { ...spec, metrics: spec.metrics.map((m) => (m.kind === 'slow' ? { ...m, threshold: m.threshold / 1000 } : m)) };
}
