/**
 * Count presets: each turns into the counts source the sequential judge reads on
 * Kubernetes, with the metric and label names of the proxy that counts; the Rollout's
 * schema picks a default per router and refuses what cannot count requests.
 * test/kube/weight-exporter-prometheus.test.ts reads each through a real Prometheus.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CountPreset, envoyGatewayCluster, instanceName, presetCounts } from '../../src/config/presets/counts.js';
import { countPresetOf, kubernetesRolloutSpec } from '../../src/config/schemas/kubernetes.js';
import { PROMETHEUS_PRESETS, unknownVariables } from '../../src/config/query-template.js';
import { PrometheusCountSource } from '../../src/analysis/providers/prometheus-counts.js';

const versions = { stable: instanceName('shop', '1a2b3c4d5e'), canary: instanceName('shop', '9f8e7d6c5b') };
const place = { address: 'http://prometheus:9090', namespace: 'web', versions };

describe('count presets', () => {
  it('istio: destination-reported requests per workload, errors by response_code, buckets in ms', () => {
    const c = presetCounts('istio', place);
    assert.deepEqual(
      { ...c, address: undefined },
      {
        address: undefined,
        labels: { reporter: 'destination', destination_workload_namespace: 'web' },
        versionLabel: 'destination_workload',
        versions: { stable: 'shop-1a2b3c4d5e', canary: 'shop-9f8e7d6c5b' },
        requests: 'istio_requests_total',
        errors: { label: 'response_code', regex: '5..' },
        latency: 'istio_request_duration_milliseconds',
        latencyUnit: 'milliseconds',
        timeout: 5000,
        headers: {},
      },
    );
    assert.equal(
      new PrometheusCountSource(c, 'ignored').selector(c.requests),
      'istio_requests_total{reporter="destination",destination_workload_namespace="web",destination_workload=~"shop-1a2b3c4d5e|shop-9f8e7d6c5b|baseline"}',
    );
  });

  it('envoy-gateway: per-cluster response classes and the upstream time histogram in ms', () => {
    const clusters = {
      stable: envoyGatewayCluster({ namespace: 'web', name: 'shop', rule: 0, backend: 0 }),
      canary: envoyGatewayCluster({ namespace: 'web', name: 'shop', rule: 0, backend: 1 }),
    };
    assert.equal(clusters.canary, 'httproute/web/shop/rule/0/backend/1');
    assert.equal(envoyGatewayCluster({ namespace: 'web', name: 'shop', rule: 2 }), 'httproute/web/shop/rule/2');
    const c = presetCounts('envoy-gateway', { ...place, versions: clusters, timeout: 2000 });
    assert.equal(c.requests, 'envoy_cluster_upstream_rq_xx');
    assert.deepEqual(c.errors, { label: 'envoy_response_code_class', regex: '5' });
    assert.equal(c.latency, 'envoy_cluster_upstream_rq_time');
    assert.equal(c.latencyUnit, 'milliseconds');
    assert.equal(c.timeout, 2000);
    assert.equal(
      new PrometheusCountSource(c, 'ignored').selector(c.requests, ['envoy_response_code_class=~"5"']),
      'envoy_cluster_upstream_rq_xx{envoy_cluster_name=~"httproute/web/shop/rule/0/backend/0|httproute/web/shop/rule/0/backend/1|baseline",envoy_response_code_class=~"5"}',
    );
  });

  it('envoy-gateway: a version counted under several clusters (several rules to the Service) selects them all', () => {
    const cluster = (rule: number, backend: number) =>
      envoyGatewayCluster({ namespace: 'web', name: 'shop.v2', rule, backend });
    const versions = { stable: [cluster(0, 0), cluster(2, 0)], canary: [cluster(0, 1), cluster(2, 1)] };
    const c = presetCounts('envoy-gateway', { ...place, versions });
    const source = new PrometheusCountSource(c, 'ignored');
    // The route's dot is literal in the regex, written twice-escaped inside the PromQL string.
    assert.equal(
      source.selector(c.requests),
      'envoy_cluster_upstream_rq_xx{envoy_cluster_name=~"httproute/web/shop\\\\.v2/rule/0/backend/0|httproute/web/shop\\\\.v2/rule/2/backend/0|httproute/web/shop\\\\.v2/rule/0/backend/1|httproute/web/shop\\\\.v2/rule/2/backend/1|baseline"}',
    );
    assert.throws(
      () => presetCounts('envoy-gateway', { ...place, versions: { stable: [cluster(0, 0)], canary: [cluster(0, 0)] } }),
      /a label value may name one version only/,
    );
  });

  it('ingress-nginx: requests per backend service in the namespace, status codes or classes, seconds', () => {
    const c = presetCounts('ingress-nginx', place);
    assert.deepEqual(c.labels, { namespace: 'web' });
    assert.equal(c.versionLabel, 'service');
    assert.equal(c.requests, 'nginx_ingress_controller_requests');
    assert.deepEqual(c.errors, { label: 'status', regex: '5..' });
    assert.equal(c.latency, 'nginx_ingress_controller_request_duration_seconds');
    assert.equal(c.latencyUnit, 'seconds');
    // Prometheus anchors the regex: 5.. matches a code and --report-status-classes' "5xx", not 50 or 404.
    const anchored = new RegExp(`^(?:${c.errors.regex})$`);
    assert.deepEqual(
      ['500', '503', '5xx', '50', '404', '200'].map((s) => anchored.test(s)),
      [true, true, true, false, false, false],
    );
  });

  it('kube-state-metrics counts no requests, and says what it can feed', () => {
    assert.throws(
      () => presetCounts('kube-state-metrics', place),
      /only ready replicas: it can feed a threshold template/,
    );
    assert.throws(() => presetCounts('linkerd' as never, place), /no count preset "linkerd"/);
    assert.match(
      PROMETHEUS_PRESETS['kube-state-metrics/available-replicas']!.query,
      /kube_deployment_status_replicas_available/,
    );
  });

  it('threshold presets of the same proxies read the same metrics, latency in seconds', () => {
    for (const [name, p] of Object.entries(PROMETHEUS_PRESETS)) {
      assert.deepEqual(unknownVariables(p.query), [], name);
      if (/_milliseconds_bucket|_rq_time_bucket/.test(p.query))
        assert.match(p.query, /\/ 1000$/, `${name} is in seconds`);
    }
    const uses = (preset: CountPreset, prefix: string) => {
      const c = presetCounts(preset as 'istio', place);
      const queries = Object.entries(PROMETHEUS_PRESETS).filter(([n]) => n.startsWith(prefix));
      assert.ok(queries.length >= 2, prefix);
      for (const [, q] of queries)
        assert.ok(q.query.includes(c.requests) || q.query.includes(`${c.latency}_bucket`), q.query);
    };
    uses('istio', 'istio/');
    uses('envoy-gateway', 'envoy-gateway/');
    uses('ingress-nginx', 'nginx/');
  });
});

describe('a Kubernetes Rollout picks its count preset', () => {
  const spec = (trafficRouting: object, prometheus: object = {}) =>
    kubernetesRolloutSpec.safeParse({
      workloadRef: { name: 'shop' },
      service: { name: 'shop' },
      trafficRouting,
      metrics: { prometheus: { address: 'http://prometheus:9090', ...prometheus } },
      strategy: { canary: { steps: [{ setWeight: 10 }] } },
    });
  const preset = (r: ReturnType<typeof spec>) => (r.success ? countPresetOf(r.data) : r.error.issues[0]!.message);

  it('defaults from the router: istio → istio, nginx → ingress-nginx', () => {
    assert.equal(
      preset(spec({ istio: { virtualService: { name: 'shop' }, destinationRule: { name: 'shop' } } })),
      'istio',
    );
    assert.equal(preset(spec({ nginx: { ingress: 'shop' } })), 'ingress-nginx');
    assert.equal(preset(spec({ gatewayAPI: { httpRoute: 'shop' } }, { preset: 'istio' })), 'istio', 'a named one wins');
  });

  it('refuses at its path: replicas or gatewayapi without a preset, envoy-gateway off gatewayapi, kube-state-metrics, a name it does not know', () => {
    const issue = (r: ReturnType<typeof spec>) => {
      assert.equal(r.success, false);
      const i = r.error!.issues[0]!;
      return `${i.path.join('.')}: ${i.message}`;
    };
    assert.match(
      issue(spec({ replicas: {} })),
      /^metrics\.prometheus\.preset: the replicas router has no proxy that counts requests per version; name the one that does/,
    );
    assert.equal(preset(spec({ replicas: {} }, { preset: 'istio' })), 'istio');
    assert.match(
      issue(spec({ gatewayAPI: { httpRoute: 'shop' } })),
      /^metrics\.prometheus\.preset: name the proxy that counts requests per version: envoy-gateway, or istio/,
    );
    // Only the gatewayapi router writes the backendRef filters that make Envoy Gateway count each version apart.
    assert.equal(preset(spec({ gatewayAPI: { httpRoute: 'shop' } }, { preset: 'envoy-gateway' })), 'envoy-gateway');
    for (const routing of [{ replicas: {} }, { nginx: { ingress: 'shop' } }])
      assert.match(
        issue(spec(routing, { preset: 'envoy-gateway' })),
        /^metrics\.prometheus\.preset: Envoy Gateway counts per HTTPRoute backendRef only behind the gatewayapi router.*name istio or ingress-nginx$/,
      );
    assert.match(
      issue(spec({ nginx: { ingress: 'shop' } }, { preset: 'kube-state-metrics' })),
      /^metrics\.prometheus\.preset: kube-state-metrics counts no requests.*name istio or ingress-nginx$/,
    );
    assert.match(issue(spec({ nginx: { ingress: 'shop' } }, { preset: 'istoi' })), /^metrics\.prometheus\.preset: /);
  });

  it('needs no preset without metrics', () => {
    const r = kubernetesRolloutSpec.safeParse({
      workloadRef: { name: 'shop' },
      service: { name: 'shop' },
      trafficRouting: { replicas: {} },
      strategy: { canary: { steps: [{ setWeight: 10 }] } },
    });
    assert.equal(r.success, true);
    assert.equal(countPresetOf(r.data!), undefined);
  });
});
