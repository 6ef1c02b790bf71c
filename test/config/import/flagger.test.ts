import { test } from 'node:test';
import assert from 'node:assert/strict';
import { imported, steps } from './helpers.js';

const weighted = (weights: number[], every: string) =>
  weights.flatMap((w) => [{ setWeight: w }, { pause: { duration: every } }]);

test('Istio tutorial: stepWeight 10 to maxWeight 50 every minute, built-in checks as Istio presets, webhooks as gates', () => {
  const { rollout, templates, dropped } = imported(['flagger/istio-canary.yaml']);
  assert.deepEqual(steps(rollout), weighted([10, 20, 30, 40, 50], '1m'));
  assert.deepEqual(rollout.spec.strategy.canary!.analysis, { templates: ['podinfo'], startingStep: 0 });
  assert.deepEqual(rollout.spec.trafficRouting, {
    istio: { virtualService: { name: 'podinfo' }, destinationRule: { name: 'podinfo' } },
  });
  const [success, duration] = templates[0]!.spec.threshold!.metrics;
  assert.equal(success!.provider.prometheus!.preset, 'istio/success-rate');
  assert.equal(success!.successCondition, 'result >= 0.99');
  assert.equal(success!.failureLimit, 4, 'threshold 5: the fifth failed check rolls back');
  assert.equal(duration!.successCondition, 'result <= 0.5', '500 ms as seconds');
  assert.equal(duration!.provider.prometheus!.window, 30_000);
  assert.deepEqual(
    (rollout.spec.webhooks as { name: string; type: string }[]).map((w) => `${w.name}:${w.type}`),
    ['acceptance-test:pre-rollout', 'load-test:rollout'],
  );
  assert.deepEqual(dropped, [
    'Canary/podinfo spec.service',
    'Canary/podinfo spec.service.targetPort',
    'Canary/podinfo spec.service.gateways',
    'Canary/podinfo spec.service.hosts',
    'Canary/podinfo spec.service.trafficPolicy',
    'Canary/podinfo spec.service.retries',
    'Canary/podinfo spec.autoscalerRef',
  ]);
});

test('Gateway API tutorial: MetricTemplates become queries with kanari variables; thresholds kept as written', () => {
  const { rollout, templates, dropped } = imported(['flagger/gatewayapi-canary.yaml'], {
    meshProvider: 'gatewayapi:v1',
  });
  assert.deepEqual(rollout.spec.trafficRouting, { gatewayAPI: { httpRoute: 'podinfo' } });
  assert.deepEqual(steps(rollout), weighted([10, 20, 30, 40, 50], '1m'));
  const [errors, latency] = templates[0]!.spec.threshold!.metrics;
  assert.equal(errors!.successCondition, 'result <= 1');
  assert.match(errors!.provider.prometheus!.query!, /destination_workload_namespace=~"test"/);
  assert.match(errors!.provider.prometheus!.query!, /destination_workload=~"\{\{target\}\}"[\s\S]*\[\{\{window\}\}\]/);
  assert.equal(latency!.provider.prometheus!.address, 'http://prometheus.istio-system:9090');
  assert.deepEqual(dropped, [
    'Canary/podinfo spec.service',
    'Canary/podinfo spec.service.targetPort',
    'Canary/podinfo spec.service.hosts',
    'Canary/podinfo spec.service.gatewayRefs',
    'Canary/podinfo spec.autoscalerRef',
  ]);
});

test('NGINX tutorial: the Ingress from ingressRef, stepWeight 5 every 10 s up to 50', () => {
  const { rollout, templates, dropped } = imported(['flagger/nginx-canary.yaml']);
  assert.deepEqual(rollout.spec.trafficRouting, { nginx: { ingress: 'podinfo' } });
  assert.deepEqual(steps(rollout), weighted([5, 10, 15, 20, 25, 30, 35, 40, 45, 50], '10s'));
  assert.equal(templates[0]!.spec.threshold!.metrics[0]!.provider.prometheus!.preset, 'nginx/success-rate');
  assert.equal(templates[0]!.spec.threshold!.metrics[0]!.failureLimit, 9);
  assert.deepEqual(dropped, ['Canary/podinfo spec.service.targetPort', 'Canary/podinfo spec.autoscalerRef']);
});

test('Kubernetes blue/green tutorial: iterations without match is blue-green on replicas; built-in checks have no preset there', () => {
  const { rollout, dropped, reasons } = imported(['flagger/kubernetes-blue-green.yaml']);
  assert.deepEqual(rollout.spec.strategy, { blueGreen: {} });
  assert.deepEqual(rollout.spec.trafficRouting, { replicas: {} });
  assert.deepEqual(dropped, [
    'Canary/podinfo spec.service.portDiscovery',
    'Canary/podinfo spec.analysis.metrics[0]',
    'Canary/podinfo spec.analysis.metrics[1]',
    'Canary/podinfo spec.autoscalerRef',
  ]);
  assert.match(reasons['Canary/podinfo spec.analysis.metrics[0]']!, /no kanari preset for the replicas router/);
});

test('Istio A/B tutorial: the first match is a header route held for iterations × interval', () => {
  const { rollout, templates, dropped } = imported(['flagger/istio-ab-testing.yaml']);
  assert.deepEqual(steps(rollout), [
    { setHeaderRoute: { match: { header: 'user-agent', regex: '.*Firefox.*' } } },
    { pause: { duration: '10m' } },
  ]);
  assert.equal(templates[0]!.spec.threshold!.metrics[0]!.failureLimit, 1);
  assert.deepEqual(dropped, [
    'Canary/podinfo spec.service',
    'Canary/podinfo spec.service.gateways',
    'Canary/podinfo spec.service.hosts',
    'Canary/podinfo spec.service.trafficPolicy',
    'Canary/podinfo spec.analysis.match[1]',
    'Canary/podinfo spec.autoscalerRef',
  ]);
});
