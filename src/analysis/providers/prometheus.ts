/**
 * The `prometheus` provider: PromQL through the Prometheus HTTP API (`/api/v1/query` for
 * one value at the window's end, `/api/v1/query_range` for a series over the window).
 *
 * Outcomes are kept apart: an HTTP or PromQL failure is `error`, no answer within the
 * timeout is `timeout`, and an empty vector or a NaN (0/0: no traffic in the window) is
 * `empty` — a query that matched nothing is never read as a rate of zero.
 */
import type { PrometheusQuery } from '../../config/schemas/analysis.js';
import { PROMETHEUS_PRESETS, renderTemplate, templateValues } from '../../config/query-template.js';
import { httpRequest, type HttpOutcome } from './http.js';
import type { MetricProvider, MetricQuery, MetricResult, QueryContext, TimeWindow } from './types.js';

interface PromSample {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

interface PromResponse {
  status: 'success' | 'error';
  data?: { resultType: 'vector' | 'matrix' | 'scalar' | 'string'; result: unknown };
  errorType?: string;
  error?: string;
}

/** The PromQL a query runs for one version and window, with its variables filled in. */
export function renderPromQL(q: PrometheusQuery, window: TimeWindow, context: QueryContext): string {
  const text = q.query ?? PROMETHEUS_PRESETS[q.preset!]!.query;
  const values = templateValues(q, context.service, q.window ?? window.end - window.start, context.targets);
  return renderTemplate(text, values, (value) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"'));
}

export class PrometheusProvider implements MetricProvider {
  readonly name = 'prometheus';

  async query(
    q: MetricQuery,
    window: TimeWindow,
    context: QueryContext,
    options: { step?: number } = {},
  ): Promise<MetricResult> {
    if (!('prometheus' in q))
      return { kind: 'error', message: "the prometheus provider was given another provider's query" };
    const query = q.prometheus;
    let promql: string;
    try {
      promql = renderPromQL(query, window, context);
    } catch (err) {
      return { kind: 'error', message: (err as Error).message };
    }
    const params = new URLSearchParams({ query: promql });
    let path = '/api/v1/query';
    if (options.step === undefined) params.set('time', seconds(window.end));
    else {
      path = '/api/v1/query_range';
      params.set('start', seconds(window.start));
      params.set('end', seconds(window.end));
      params.set('step', `${Math.max(1, options.step / 1000)}s`);
    }
    const url = `${query.address.replace(/\/+$/, '')}${path}`;
    const res = await httpRequest(url, {
      method: 'POST',
      headers: { ...query.headers, 'content-type': 'application/x-www-form-urlencoded' },
      body: params.toString(),
      timeoutMs: query.timeout,
    });
    return interpret(res, url);
  }
}

function interpret(res: HttpOutcome, url: string): MetricResult {
  if (res.kind !== 'ok') return res;
  let body: PromResponse;
  try {
    body = JSON.parse(res.text) as PromResponse;
  } catch {
    return {
      kind: 'error',
      message: `${url} answered ${res.status} with something that is not JSON: ${res.text.slice(0, 120)}`,
    };
  }
  if (body.status !== 'success' || !body.data)
    return {
      kind: 'error',
      message: `Prometheus ${res.status} ${body.errorType ?? 'error'}: ${body.error ?? 'no data in the answer'}`,
    };
  if (res.status >= 300) return { kind: 'error', message: `${url} answered ${res.status}` };
  const { resultType, result } = body.data;
  switch (resultType) {
    case 'scalar':
      return single(Number((result as [number, string])[1]));
    case 'vector': {
      const samples = result as PromSample[];
      if (samples.length === 0) return { kind: 'empty', message: 'the query matched no series' };
      if (samples.length === 1) return single(Number(samples[0]!.value![1]));
      return { kind: 'value', value: samples.map((s) => Number(s.value![1])) };
    }
    case 'matrix': {
      const series = result as PromSample[];
      if (series.length === 0) return { kind: 'empty', message: 'the query matched no series' };
      if (series.length > 1)
        return {
          kind: 'error',
          message: `the range query returned ${series.length} series; aggregate it (sum, avg, histogram_quantile) so it returns one`,
        };
      const values = series[0]!.values!.map(([, v]) => Number(v));
      if (values.every((v) => Number.isNaN(v)))
        return { kind: 'empty', message: 'every point of the series is NaN (no traffic in the window?)' };
      return { kind: 'value', value: values, series: values };
    }
    default:
      return { kind: 'error', message: `the query returned a ${resultType}, not a number` };
  }
}

function single(value: number): MetricResult {
  if (Number.isNaN(value)) return { kind: 'empty', message: 'the query returned NaN (no traffic in the window?)' };
  return { kind: 'value', value };
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}
