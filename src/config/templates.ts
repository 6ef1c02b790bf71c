/**
 * Built-in analysis templates, as data. `sequential` is kanari's default; `threshold`
 * is what a Flagger user gets from its built-in checks (request success rate ≥ 99% and
 * p99 ≤ 500 ms, every minute, rolling back on the fifth failed check); `kayenta` is a
 * Spinnaker canary stage: error rate (critical) and p99 of canary against control,
 * 10-second points, scored every 5 minutes over everything since the start, failing
 * an interval at or below 75; `series` is kanari's series judge on the same two metrics
 * and points, looking every 5 minutes for 30 minutes with α = 0.05 over all of it.
 */
import { analysisTemplateSpec, providerName, type AnalysisTemplateSpec } from './schemas/analysis.js';

export const BUILTIN_TEMPLATES: Record<string, AnalysisTemplateSpec> = {
  sequential: analysisTemplateSpec.parse({ sequential: {} }),
  threshold: analysisTemplateSpec.parse({
    threshold: {
      metrics: [
        {
          name: 'request-success-rate',
          provider: { builtin: { signal: 'successRate' } },
          interval: '1m',
          failureLimit: 4,
          successCondition: 'result >= 0.99',
        },
        {
          name: 'request-duration',
          provider: { builtin: { signal: 'latency', quantile: 0.99 } },
          interval: '1m',
          failureLimit: 4,
          successCondition: 'result <= 0.5',
        },
      ],
    },
  }),
  kayenta: analysisTemplateSpec.parse({
    kayenta: {
      config: {
        name: 'kanari-builtin',
        judge: { name: 'NetflixACAJudge-v1.0' },
        metrics: [
          {
            name: 'error-rate',
            groups: ['errors'],
            analysisConfigurations: { canary: { direction: 'increase', critical: true } },
          },
          { name: 'latency-p99', groups: ['latency'], analysisConfigurations: { canary: { direction: 'increase' } } },
        ],
        classifier: { groupWeights: { errors: 50, latency: 50 }, scoreThresholds: { pass: 95, marginal: 75 } },
      },
      metrics: {
        'error-rate': { builtin: { signal: 'errorRate' } },
        'latency-p99': { builtin: { signal: 'latency', quantile: 0.99 } },
      },
      interval: '5m',
      step: '10s',
    },
  }),
  series: analysisTemplateSpec.parse({
    series: {
      metrics: [
        { name: 'error-rate', provider: { builtin: { signal: 'errorRate' } }, tolerance: 0.0005 },
        { name: 'latency-p99', provider: { builtin: { signal: 'latency', quantile: 0.99 } }, tolerance: 0.02 },
      ],
      interval: '5m',
      step: '10s',
      count: 6,
    },
  }),
};

/** The providers a template reads, so a caller can refuse what it cannot serve (the simulator serves builtin only). */
export function providersOf(spec: AnalysisTemplateSpec): string[] {
  if (spec.sequential) return [spec.sequential.source?.prometheus ? 'prometheus' : 'builtin'];
  const queries = spec.threshold
    ? spec.threshold.metrics.map((m) => m.provider)
    : spec.series
      ? spec.series.metrics.map((m) => m.provider)
      : Object.values(spec.kayenta!.metrics);
  return [...new Set(queries.map(providerName))];
}
