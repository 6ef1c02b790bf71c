import { test } from 'node:test';
import assert from 'node:assert/strict';
import { importFiles } from '../../../src/config/import/index.js';
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
    'MetricTemplate/latency metadata.namespace',
    'MetricTemplate/error-rate metadata.namespace',
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

const canary = (name: string, analysis: string, extra = '') =>
  `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: ${name}, namespace: test}
spec:
  provider: istio
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: ${name}}
  service: {port: 80}
${extra}  analysis:
${analysis}`;

const stepsOf = (text: string) => {
  const { documents } = importFiles([{ file: 'c.yaml', text }]);
  return (documents[0]!.spec as { strategy: { canary: { steps: unknown[] } } }).strategy.canary.steps;
};

test("weights walk as Flagger's scheduler does: past maxWeight by one step, stepWeights to their last", () => {
  assert.deepEqual(
    stepsOf(canary('a', '    interval: 30s\n    stepWeight: 20\n    maxWeight: 50\n')),
    weighted([20, 40, 60], '30s'),
  );
  assert.deepEqual(
    stepsOf(canary('a', '    interval: 5s\n    stepWeights: [1, 5, 25, 80]\n')),
    weighted([1, 5, 25, 80], '10s'),
    "Flagger's floor: an interval under 10 s runs every 10 s",
  );
  assert.deepEqual(stepsOf(canary('a', '    stepWeight: 60\n')), weighted([60, 100], '1m'));
});

test('mirroring before the weights, as Flagger mirrors one interval at weight 0', () => {
  assert.deepEqual(stepsOf(canary('a', '    stepWeight: 50\n    mirror: true\n    mirrorWeight: 20\n')), [
    { setMirror: { percent: 20 } },
    { pause: { duration: '1m' } },
    { setMirror: {} },
    ...weighted([50, 100], '1m'),
  ]);
});

test("A/B by cookie: Flagger's cookie regex becomes a cookie match", () => {
  const ab =
    '    iterations: 3\n    match:\n    - headers:\n        cookie:\n          regex: "^(.*?;)?(canary=always)(;.*)?$"\n';
  assert.deepEqual(stepsOf(canary('a', ab)), [
    { setHeaderRoute: { match: { cookie: 'canary', value: 'always' } } },
    { pause: { duration: '3m' } },
  ]);
});

test('two Canaries of one name in different namespaces get templates of different names', () => {
  const metric =
    '    stepWeight: 50\n    metrics:\n    - name: request-success-rate\n      thresholdRange: {min: 99}\n';
  const text = `${canary('podinfo', metric)}\n---\n${canary('podinfo', metric).replace('namespace: test', 'namespace: prod')}`;
  const { documents } = importFiles([{ file: 'c.yaml', text }]);
  const refs = documents
    .filter((d) => d.kind === 'Rollout')
    .map(
      (d) =>
        (d.spec as { strategy: { canary: { analysis: { templates: string[] } } } }).strategy.canary.analysis
          .templates[0],
    );
  assert.deepEqual(refs, ['podinfo', 'podinfo-2']);
  assert.deepEqual(
    documents.filter((d) => d.kind === 'AnalysisTemplate').map((d) => (d.metadata as { name: string }).name),
    ['podinfo', 'podinfo-2'],
  );
});

test('webhooks: post-rollout and event hooks become notifications; an unknown type is listed', () => {
  const hooks =
    '    stepWeight: 50\n    webhooks:\n    - {name: done, type: post-rollout, url: "http://n.test/"}\n    - {name: every, type: event, url: "http://n.test/e"}\n    - {name: gate, type: confirm-promotion, url: "http://g.test/", retries: 40}\n    - {name: odd, type: pre-promotion, url: "http://g.test/"}\n';
  const { documents, notCarried } = importFiles([{ file: 'c.yaml', text: canary('a', hooks) }]);
  const spec = documents[0]!.spec as { notifications: unknown[]; webhooks: unknown[] };
  assert.deepEqual(spec.notifications, [
    { url: 'http://n.test/', on: ['post-rollout'] },
    { url: 'http://n.test/e', on: ['event'] },
  ]);
  assert.deepEqual(spec.webhooks, [
    { name: 'gate', type: 'confirm-promotion', url: 'http://g.test/', metadata: {}, retries: 10 },
  ]);
  assert.deepEqual(
    notCarried.filter((n) => n.path.includes('webhooks')).map((n) => `${n.path.join('.')}: ${n.reason}`),
    ['spec.analysis.webhooks.3: kanari has no pre-promotion webhook; dropped'],
  );
});
