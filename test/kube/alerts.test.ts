import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadDocuments } from '../../src/config/kinds.js';
import type { AnalysisTemplateDocument } from '../../src/config/schemas/analysis.js';
import type { KubernetesRolloutDocument } from '../../src/config/schemas/kubernetes.js';
import { canaryAlerts, type AlertRule } from '../../src/kube/alerts.js';
import { file } from '../helpers/config.js';

/** A Kubernetes Rollout on `routing` judged by `templates`, with the file's AnalysisTemplate `checks` beside it. */
function load(
  routing: string,
  templates: string,
  checks = '',
  name = 'checkout',
  metrics = 'metrics: { prometheus: { address: http://prometheus:9090 } }',
) {
  const docs = loadDocuments(
    file(`apiVersion: kanari.dev/v1alpha1
kind: Rollout
metadata: { name: ${name}, namespace: shop }
spec:
  workloadRef: { name: checkout }
  service: { name: checkout }
  trafficRouting: ${routing}
  ${metrics}
  strategy: { canary: { steps: [{ setWeight: 10 }, { analysis: { templates: [${templates}] } }] } }
${checks}`),
  );
  const rollout = docs[0]!.value as KubernetesRolloutDocument;
  const given = docs.slice(1).map((d) => d.value as AnalysisTemplateDocument);
  return canaryAlerts(rollout, Object.fromEntries(given.map((t) => [t.metadata.name, t.spec])));
}

const CHECKS = `---
apiVersion: kanari.dev/v1alpha1
kind: AnalysisTemplate
metadata: { name: slo }
spec:
  threshold:
    metrics:
      - name: success-rate
        provider:
          prometheus:
            address: http://prometheus:9090
            preset: istio/success-rate
            targets: { canary: checkout-canary }
        interval: 1m
        failureLimit: 2
        successCondition: result >= 0.99
      - name: p99
        provider: { prometheus: { address: http://prometheus:9090, query: 'histogram_quantile(0.99, sum by (le) (rate(x_bucket{app="{{service}}"}[{{window}}])))' } }
        interval: 30s
        failureCondition: result > 0.5
      - name: relative
        provider: { prometheus: { address: http://prometheus:9090, query: 'vector(1)' } }
        successCondition: result <= control * 1.2
      - name: orders
        provider: { web: { url: 'http://orders/stats', jsonPath: '$.n' } }
        successCondition: result >= 10
`;

const rulesOf = (r: ReturnType<typeof canaryAlerts>) =>
  (r.rule.spec as { groups: { rules: AlertRule[] }[] }).groups[0]!.rules;

describe('kanari k8s alerts', () => {
  it("skips a threshold metric whose query names the version by {{target}} without targets: on Kubernetes that is the version's Deployment, which changes with every release", () => {
    const istio = '{ istio: { virtualService: { name: checkout }, destinationRule: { name: checkout } } }';
    const result = load(istio, 'slo', CHECKS.replace('\n            targets: { canary: checkout-canary }', ''));
    assert.deepEqual(
      rulesOf(result).map((r) => r.alert),
      ['KanariCheckoutP99'],
    );
    assert.match(
      result.skipped[0]!,
      /^template "slo" metric "success-rate": its query names the version by \{\{target\}\}/,
    );
  });

  it('turns each threshold metric on Prometheus into an alert firing when the judge would fail it', () => {
    const result = load(
      '{ istio: { virtualService: { name: checkout }, destinationRule: { name: checkout } } }',
      'slo',
      CHECKS,
    );
    const [success, p99] = rulesOf(result);
    assert.equal(success!.alert, 'KanariCheckoutSuccessRate');
    assert.match(
      success!.expr,
      /^\(sum\(rate\(istio_requests_total\{reporter="destination",destination_workload="checkout-canary",response_code!~"5\.\*"\}\[60s\]\)\) \/ .*\) < 0\.99$/,
    );
    assert.equal(success!.for, '180s', 'three failed measurements a minute apart: failureLimit 2 tolerates two');
    assert.equal(p99!.expr, '(histogram_quantile(0.99, sum by (le) (rate(x_bucket{app="checkout"}[30s])))) > 0.5');
    assert.equal(p99!.for, '30s');
    assert.deepEqual(result.skipped, [
      'template "slo" metric "relative": its condition is not "result <op> number", which PromQL cannot say as it is (result <= control * 1.2)',
      'template "slo" metric "orders": reads web, not Prometheus',
    ]);
  });

  it("compares each version's error rate and p99 with the whole service's where the default judge reads the mesh's counters", () => {
    const rules = rulesOf(
      load('{ istio: { virtualService: { name: checkout }, destinationRule: { name: checkout } } }', 'sequential'),
    );
    assert.deepEqual(
      rules.map((r) => r.alert),
      ['KanariCheckoutErrorRate', 'KanariCheckoutLatencyP99'],
    );
    assert.match(
      rules[0]!.expr,
      /destination_workload_namespace="shop",destination_workload=~"checkout-\.\+",response_code=~"5\.\."/,
    );
    assert.match(rules[0]!.expr, /> 2 \* scalar\(/);
    const nginx = rulesOf(load('{ nginx: { ingress: checkout } }', 'sequential'));
    assert.match(
      nginx[1]!.expr,
      /^\(histogram_quantile\(0\.99, sum by \(service, le\) \(rate\(nginx_ingress_controller_request_duration_seconds_bucket\{namespace="shop",service=~"checkout-\.\+"\}\[5m\]\)\)\)\) > 1\.5 \* scalar/,
    );
  });

  it('reads Istio counters behind the gatewayapi router when the Rollout names them', () => {
    const istio = load(
      '{ gatewayAPI: { httpRoute: checkout } }',
      'sequential',
      '',
      'checkout',
      'metrics: { prometheus: { address: http://prometheus:9090, preset: istio } }',
    );
    assert.equal(rulesOf(istio).length, 2, 'Istio implementing the Gateway API counts per workload');
  });

  it("is a PrometheusRule in the Rollout's namespace, one group named after the rollout", () => {
    const { rule } = load('{ nginx: { ingress: checkout } }', 'sequential');
    assert.equal(rule.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(rule.kind, 'PrometheusRule');
    assert.deepEqual(rule.metadata, {
      name: 'checkout-canary',
      namespace: 'shop',
      labels: { 'app.kubernetes.io/managed-by': 'kanari', 'kanari.dev/rollout': 'checkout' },
    });
  });

  it("matches a dotted rollout name's dots literally", () => {
    const [errors] = rulesOf(load('{ nginx: { ingress: checkout } }', 'sequential', '', 'shop.checkout'));
    assert.match(errors!.expr, /service=~"shop\\\\\.checkout-\.\+"/);
  });
});
