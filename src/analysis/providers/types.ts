/**
 * The `MetricProvider` seam: where a measurement's numbers come from. Every provider
 * answers with one of four distinct outcomes, so an outage or an empty query can never
 * pass for a healthy zero: a value, nothing (`empty`), a failure (`error`), or no
 * answer in time (`timeout`).
 */
import type { Value } from '../../config/expression.js';
import type { BuiltinQuery, PrometheusQuery, WebQuery } from '../../config/schemas/analysis.js';

/** A half-open interval [start, end) in milliseconds since the epoch. */
export interface TimeWindow {
  start: number;
  end: number;
}

export type MetricQuery = { builtin: BuiltinQuery } | { prometheus: PrometheusQuery } | { web: WebQuery };

/** What one query returned. A `series` value comes from a range query, oldest first. */
export type MetricResult =
  | { kind: 'value'; value: Value; series?: number[] }
  | { kind: 'empty'; message: string }
  | { kind: 'error'; message: string; unreachable?: true }
  | { kind: 'timeout'; message: string };

/** What the query's `{{…}}` variables stand for in this run. */
export interface QueryContext {
  service: string;
  /** The name each version is known by where kanari names it (on Kubernetes, its Deployment): `{{target}}`'s default. */
  targets?: Partial<Record<'stable' | 'canary' | 'baseline', string>>;
}

export interface MetricProvider {
  readonly name: 'builtin' | 'prometheus' | 'web';
  /** With `step` (ms) the answer is a series, one value per step over the window, instead of one value for all of it. */
  query(q: MetricQuery, window: TimeWindow, context: QueryContext, options?: { step?: number }): Promise<MetricResult>;
}
