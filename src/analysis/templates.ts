/** What the analysis layer makes of a template's settings before a judge sees them. */
import type { AnalysisTemplateSpec } from '../config/schemas/analysis.js';
import type { SequentialSettings } from './judges/sequential/judge.js';

/** A template's sequential spec as the judge takes it: durations in the file are milliseconds, the judge works in seconds. */
export function sequentialSettings(spec: NonNullable<AnalysisTemplateSpec['sequential']>): SequentialSettings {
  return {
    ...spec,
    metrics: spec.metrics.map((m) => (m.kind === 'slow' ? { ...m, threshold: m.threshold / 1000 } : m)),
  };
}
