import { VERSIONS } from '../config/schemas/table.js';
import { LatencySketch } from '../shared/sketch.js';
import { STATUS_CLASSES, UPSTREAM_ERRORS, type StatsSnapshot } from '../shared/stats-snapshot.js';

/** Classic histogram bounds exported to Prometheus; the sketch behind them is finer (1%). */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface RouteGauges {
  weights: { canary: number; baseline: number };
  available: Record<string, boolean>;
}

/**
 * Renders the router's counters in the Prometheus text format (version 0.0.4). The
 * hot path keeps plain arrays, so this is written out here rather than through a
 * registry that would hash labels on every request.
 */
export function renderPrometheus(snap: StatsSnapshot, gauges: RouteGauges): string {
  const out: string[] = [];
  const svc = `service="${escapeLabel(snap.service)}"`;
  const family = (name: string, type: string, help: string) =>
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

  family(
    'kanari_router_requests_total',
    'counter',
    'Responses sent to clients, by the version that served them and status class.',
  );
  for (const v of VERSIONS)
    for (const c of STATUS_CLASSES)
      out.push(`kanari_router_requests_total{${svc},version="${v}",code="${c}"} ${snap.versions[v].requests[c]}`);

  family('kanari_router_upstream_errors_total', 'counter', "Failed attempts to reach a version's upstream, by reason.");
  for (const v of VERSIONS)
    for (const e of UPSTREAM_ERRORS)
      out.push(
        `kanari_router_upstream_errors_total{${svc},version="${v}",reason="${e}"} ${snap.versions[v].upstreamErrors[e]}`,
      );

  family(
    'kanari_router_fallbacks_total',
    'counter',
    'Requests for a version with no available endpoint that stable served instead.',
  );
  for (const v of VERSIONS)
    out.push(`kanari_router_fallbacks_total{${svc},version="${v}"} ${snap.versions[v].fallbacks}`);

  family('kanari_router_in_flight', 'gauge', 'Requests being served now.');
  for (const v of VERSIONS) out.push(`kanari_router_in_flight{${svc},version="${v}"} ${snap.versions[v].inFlight}`);

  family(
    'kanari_router_request_duration_seconds',
    'histogram',
    'Time from request received to last response byte sent.',
  );
  for (const v of VERSIONS) {
    const sketch = LatencySketch.from(snap.versions[v].latency);
    for (const le of LATENCY_BUCKETS)
      out.push(
        `kanari_router_request_duration_seconds_bucket{${svc},version="${v}",le="${le}"} ${sketch.countAtOrBelow(le)}`,
      );
    out.push(`kanari_router_request_duration_seconds_bucket{${svc},version="${v}",le="+Inf"} ${sketch.count}`);
    out.push(`kanari_router_request_duration_seconds_sum{${svc},version="${v}"} ${sketch.sum}`);
    out.push(`kanari_router_request_duration_seconds_count{${svc},version="${v}"} ${sketch.count}`);
  }

  family('kanari_router_weight_percent', 'gauge', 'Configured share of traffic in percent.');
  const stableWeight = 100 - gauges.weights.canary - gauges.weights.baseline;
  out.push(`kanari_router_weight_percent{${svc},version="stable"} ${round2(stableWeight)}`);
  out.push(`kanari_router_weight_percent{${svc},version="canary"} ${gauges.weights.canary}`);
  out.push(`kanari_router_weight_percent{${svc},version="baseline"} ${gauges.weights.baseline}`);

  family('kanari_router_version_available', 'gauge', '1 when the version has at least one available endpoint.');
  for (const [v, ok] of Object.entries(gauges.available))
    out.push(`kanari_router_version_available{${svc},version="${v}"} ${ok ? 1 : 0}`);

  family('kanari_router_rejected_total', 'counter', 'Requests rejected before routing.');
  out.push(`kanari_router_rejected_total{${svc},reason="bad_request"} ${snap.rejected.badRequest}`);
  out.push(`kanari_router_rejected_total{${svc},reason="headers_too_large"} ${snap.rejected.headersTooLarge}`);
  out.push(`kanari_router_rejected_total{${svc},reason="too_many_connections"} ${snap.rejected.tooManyConnections}`);

  family('kanari_router_retries_total', 'counter', 'Requests retried on another endpoint.');
  out.push(`kanari_router_retries_total{${svc}} ${snap.retries}`);

  family('kanari_router_mirrored_total', 'counter', 'Mirrored copies of requests, by outcome.');
  for (const [k, n] of Object.entries(snap.mirror)) out.push(`kanari_router_mirrored_total{${svc},result="${k}"} ${n}`);

  family('kanari_router_table_revision', 'gauge', 'Revision of the routing table in force.');
  out.push(`kanari_router_table_revision{${svc}} ${snap.revision}`);
  family('kanari_router_workers', 'gauge', 'Worker processes serving traffic.');
  out.push(`kanari_router_workers{${svc}} ${snap.workers}`);
  if (snap.tableStore) {
    family(
      'kanari_router_table_persisted',
      'gauge',
      '1 when the routing table in force is saved in the state file; 0 while it could not be (a restart would come back on an older one).',
    );
    out.push(`kanari_router_table_persisted{${svc}} ${snap.tableStore.persisted ? 1 : 0}`);
    family(
      'kanari_router_table_persist_failures_total',
      'counter',
      'Routing tables the router could not save (applied anyway when they only take users off versions).',
    );
    out.push(`kanari_router_table_persist_failures_total{${svc}} ${snap.tableStore.failures}`);
  }
  return out.join('\n') + '\n';
}

/** A Prometheus label value with backslash, quote and newline escaped. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
