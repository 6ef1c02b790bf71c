/**
 * Query templates: `{{version}}`, `{{service}}`, `{{target}}`, `{{window}}` and
 * `{{quantile}}` in a PromQL query or a web URL, filled in for each measurement. An
 * unknown variable is a load-time error, not a query that silently matches nothing.
 */

export const TEMPLATE_VARIABLES = ['service', 'version', 'target', 'window', 'quantile'] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** The names a template uses that kanari does not define. */
export function unknownVariables(template: string): string[] {
  const known = new Set<string>(TEMPLATE_VARIABLES);
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter((v) => !known.has(v));
}

export function renderTemplate(
  template: string,
  values: Partial<Record<TemplateVariable, string>>,
  escape: (text: string) => string = (t) => t,
): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => {
    const value = values[name as TemplateVariable];
    if (value === undefined) throw new Error(`the query uses {{${name}}}, which has no value here`);
    return escape(value);
  });
}

type VersionName = 'canary' | 'stable' | 'baseline';

/**
 * What each variable stands for in one query: `{{target}}` is the name the mesh knows
 * the version by (the query's `targets`, else the name kanari runs it under — `named`,
 * on Kubernetes its Deployment — else `<service>-<version>`), `{{window}}` the range in
 * whole seconds.
 */
export function templateValues(
  query: { version: VersionName; targets: Partial<Record<VersionName, string>>; quantile?: number },
  service: string,
  windowMs: number,
  named: Partial<Record<VersionName, string>> = {},
): Partial<Record<TemplateVariable, string>> {
  return {
    service,
    version: query.version,
    target: query.targets[query.version] ?? named[query.version] ?? `${service}-${query.version}`,
    window: promDuration(windowMs),
    ...(query.quantile === undefined ? {} : { quantile: String(query.quantile) }),
  };
}

/** A window as PromQL writes a range: whole seconds, at least one. */
export function promDuration(ms: number): string {
  return `${Math.max(1, Math.round(ms / 1000))}s`;
}

/**
 * Ready-made PromQL for the common meshes and ingresses, so a template can say
 * `preset: istio/success-rate` instead of pasting a query. Every value is in base
 * units: rates as fractions, latencies in seconds. `{{target}}` is the name the mesh
 * knows the version by (default `<service>-<version>`, or the provider's `targets`).
 */
export const PROMETHEUS_PRESETS: Record<string, { query: string; description: string }> = {
  'kanari/success-rate': {
    description: 'share of kanari router responses that were not 5xx',
    query:
      'sum(rate(kanari_router_requests_total{service="{{service}}",version="{{version}}",code!="5xx"}[{{window}}])) / sum(rate(kanari_router_requests_total{service="{{service}}",version="{{version}}"}[{{window}}]))',
  },
  'kanari/error-rate': {
    description: 'share of kanari router responses that were 5xx',
    query:
      'sum(rate(kanari_router_requests_total{service="{{service}}",version="{{version}}",code="5xx"}[{{window}}])) / sum(rate(kanari_router_requests_total{service="{{service}}",version="{{version}}"}[{{window}}]))',
  },
  'kanari/request-rate': {
    description: 'requests per second through the kanari router',
    query: 'sum(rate(kanari_router_requests_total{service="{{service}}",version="{{version}}"}[{{window}}]))',
  },
  'kanari/latency': {
    description: 'a latency quantile in seconds from the kanari router histogram',
    query:
      'histogram_quantile({{quantile}}, sum by (le) (rate(kanari_router_request_duration_seconds_bucket{service="{{service}}",version="{{version}}"}[{{window}}])))',
  },
  'istio/success-rate': {
    description: 'share of non-5xx responses reported by the destination sidecar',
    query:
      'sum(rate(istio_requests_total{reporter="destination",destination_workload="{{target}}",response_code!~"5.*"}[{{window}}])) / sum(rate(istio_requests_total{reporter="destination",destination_workload="{{target}}"}[{{window}}]))',
  },
  'istio/latency': {
    description: 'a latency quantile in seconds (Istio records milliseconds)',
    query:
      'histogram_quantile({{quantile}}, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload="{{target}}"}[{{window}}]))) / 1000',
  },
  'envoy-gateway/success-rate': {
    description: "share of non-5xx responses from Envoy Gateway's cluster for the version's backendRef",
    query:
      'sum(rate(envoy_cluster_upstream_rq_xx{envoy_cluster_name="{{target}}",envoy_response_code_class!="5"}[{{window}}])) / sum(rate(envoy_cluster_upstream_rq_xx{envoy_cluster_name="{{target}}"}[{{window}}]))',
  },
  'envoy-gateway/latency': {
    description: 'a latency quantile in seconds from Envoy Gateway (Envoy records milliseconds)',
    query:
      'histogram_quantile({{quantile}}, sum by (le) (rate(envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="{{target}}"}[{{window}}]))) / 1000',
  },
  'kube-state-metrics/available-replicas': {
    description: "the version's Deployment's available pods (kube-state-metrics): readiness, not requests",
    query: 'sum(kube_deployment_status_replicas_available{deployment="{{target}}"})',
  },
  'nginx/success-rate': {
    description: "share of non-5xx responses from ingress-nginx for the version's backend service",
    query:
      'sum(rate(nginx_ingress_controller_requests{service="{{target}}",status!~"5.*"}[{{window}}])) / sum(rate(nginx_ingress_controller_requests{service="{{target}}"}[{{window}}]))',
  },
  'nginx/latency': {
    description: 'a latency quantile in seconds from ingress-nginx',
    query:
      'histogram_quantile({{quantile}}, sum by (le) (rate(nginx_ingress_controller_request_duration_seconds_bucket{service="{{target}}"}[{{window}}])))',
  },
};
