/**
 * Count presets: where the sequential judge finds per-version request counts on
 * Kubernetes, by the proxy that counts them. Each turns into the `prometheusCounts` fields
 * (src/config/schemas/analysis.ts): the request counter, the label naming the version and
 * its value per version, which of its series are errors, and the latency histogram with the
 * unit of its bounds. Names and labels were checked against each project's source or docs;
 * each entry cites where (docs/kubernetes/metrics.md says more).
 */
import { prometheusCounts, type PrometheusCounts } from '../schemas/analysis.js';
import type { Version } from '../schemas/table.js';

/** The presets a Kubernetes Rollout may name in `spec.metrics.prometheus.preset`. */
export const COUNT_PRESETS = ['istio', 'envoy-gateway', 'ingress-nginx', 'kube-state-metrics'] as const;
export type CountPreset = (typeof COUNT_PRESETS)[number];

/** The presets that count requests per version; kube-state-metrics counts only ready replicas. */
export type RequestCountPreset = Exclude<CountPreset, 'kube-state-metrics'>;

export const KUBE_STATE_METRICS_REASON =
  'kube-state-metrics counts no requests, only ready replicas: it can feed a threshold template ' +
  '(preset kube-state-metrics/available-replicas), not the sequential judge';

export interface CountsPlace {
  /** The Prometheus HTTP API. */
  address: string;
  /** The Rollout's namespace (Istio's and ingress-nginx's series carry it). */
  namespace: string;
  /**
   * Each version's value of the preset's version label: for `istio` and `ingress-nginx` the
   * version's Deployment and Service name `<rollout>-<instance id>` (`instanceName`); for
   * `envoy-gateway` the Envoy clusters of its backendRefs (`envoyGatewayCluster`), one per
   * HTTPRoute rule that sends to it, summed.
   */
  versions: Partial<Record<Version, string | string[]>>;
  /** Milliseconds, as the Rollout's `metrics.prometheus.timeout` is once parsed. */
  timeout?: number;
}

/** The Deployment and the Service kanari runs one version's instance in. */
export function instanceName(rollout: string, instanceId: string): string {
  return `${rollout}-${instanceId}`;
}

/**
 * The Envoy cluster Envoy Gateway makes for one backendRef of an HTTPRoute rule. It makes
 * one cluster per rule (`httproute/<ns>/<route>/rule/<n>`, every backendRef of the rule a
 * locality of it, so per-backend counts do not exist), and one per backendRef
 * (`…/rule/<n>/backend/<i>`) only when backendRefs carry filters: envoyproxy/gateway
 * internal/xds/translator/testdata/out/xds-ir/http-route-weighted-backend-with-filters.clusters.yaml,
 * PR #5269, issue #7017. `backend` undefined names the rule's cluster.
 */
export function envoyGatewayCluster(route: {
  namespace: string;
  name: string;
  rule: number;
  backend?: number;
}): string {
  const rule = `httproute/${route.namespace}/${route.name}/rule/${route.rule}`;
  return route.backend === undefined ? rule : `${rule}/backend/${route.backend}`;
}

type PresetFields = Omit<PrometheusCounts, 'address' | 'versions' | 'timeout' | 'headers'>;

const FIELDS: Record<RequestCountPreset, (namespace: string) => PresetFields> = {
  // Istio standard metrics (istio.io/latest/docs/reference/config/metrics): istio_requests_total
  // and istio_request_duration_milliseconds (a DISTRIBUTION in ms), labels reporter,
  // destination_workload (the Deployment), destination_workload_namespace, response_code.
  istio: (namespace) => ({
    labels: { reporter: 'destination', destination_workload_namespace: namespace },
    versionLabel: 'destination_workload',
    requests: 'istio_requests_total',
    errors: { label: 'response_code', regex: '5..' },
    latency: 'istio_request_duration_milliseconds',
    latencyUnit: 'milliseconds',
  }),
  // Envoy's cluster statistics as Prometheus names them: cluster.<name>.upstream_rq_<class>xx
  // becomes envoy_cluster_upstream_rq_xx{envoy_response_code_class, envoy_cluster_name}, and the
  // upstream_rq_time histogram is in ms (envoyproxy.io docs, cluster manager statistics).
  'envoy-gateway': () => ({
    labels: {},
    versionLabel: 'envoy_cluster_name',
    requests: 'envoy_cluster_upstream_rq_xx',
    errors: { label: 'envoy_response_code_class', regex: '5' },
    latency: 'envoy_cluster_upstream_rq_time',
    latencyUnit: 'milliseconds',
  }),
  // kubernetes/ingress-nginx internal/ingress/metric/collectors/socket.go: the counter
  // nginx_ingress_controller_requests and the histogram …_request_duration_seconds, labels
  // status, method, path, namespace, ingress, service, canary. `5..` also matches the "5xx"
  // of --report-status-classes.
  'ingress-nginx': (namespace) => ({
    labels: { namespace },
    versionLabel: 'service',
    requests: 'nginx_ingress_controller_requests',
    errors: { label: 'status', regex: '5..' },
    latency: 'nginx_ingress_controller_request_duration_seconds',
    latencyUnit: 'seconds',
  }),
};

/** The `prometheusCounts` source a preset reads; throws for kube-state-metrics, which counts no requests. */
export function presetCounts(preset: CountPreset, place: CountsPlace): PrometheusCounts {
  if (preset === 'kube-state-metrics') throw new Error(KUBE_STATE_METRICS_REASON);
  const fields = FIELDS[preset];
  if (!fields) throw new Error(`no count preset "${String(preset)}" (known: ${COUNT_PRESETS.join(', ')})`);
  return prometheusCounts.parse({
    address: place.address,
    versions: place.versions,
    ...(place.timeout === undefined ? {} : { timeout: `${place.timeout}ms` }),
    ...fields(place.namespace),
  });
}
