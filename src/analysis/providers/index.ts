import { providerName, type ProviderQuery } from '../../config/schemas/analysis.js';
import type { BuiltinProvider } from './builtin.js';
import { PrometheusProvider } from './prometheus.js';
import type { MetricProvider, MetricQuery, MetricResult, QueryContext, TimeWindow } from './types.js';
import { WebProvider } from './web.js';

/** The providers a run can use; `builtin` exists only where kanari's router carries the traffic. */
export class Providers {
  private readonly byName: Partial<Record<MetricProvider['name'], MetricProvider>>;

  constructor(builtin?: BuiltinProvider) {
    this.byName = { prometheus: new PrometheusProvider(), web: new WebProvider(), ...(builtin ? { builtin } : {}) };
  }

  /** Never throws: a provider that is missing or that throws is an `error` outcome. */
  async query(
    q: ProviderQuery,
    window: TimeWindow,
    context: QueryContext,
    options?: { step?: number },
  ): Promise<MetricResult> {
    const name = providerName(q);
    const provider = this.byName[name];
    if (!provider)
      return { kind: 'error', message: `no ${name} provider here (the builtin provider needs kanari's own router)` };
    try {
      return await provider.query(q as MetricQuery, window, context, options);
    } catch (err) {
      return { kind: 'error', message: `${name} provider: ${(err as Error).message}` };
    }
  }
}
