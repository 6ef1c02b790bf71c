import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPath } from '../../../src/config/errors.js';
import { importFiles } from '../../../src/config/import/index.js';
import { analysisTemplateDocument } from '../../../src/config/schemas/analysis.js';
import { kubernetesRolloutDocument } from '../../../src/config/schemas/kubernetes.js';

type Json = Record<string, unknown>;

const rollout = (strategy: string) => `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: app, namespace: shop, labels: {team: pay}}
spec:
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: app}
  strategy:
${strategy}`;

const template = (name: string, body: string) => `---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: ${name}}
spec:
${body}`;

function run(text: string) {
  const { documents, notCarried } = importFiles([{ file: 'r.yaml', text }]);
  for (const d of documents) (d.kind === 'Rollout' ? kubernetesRolloutDocument : analysisTemplateDocument).parse(d);
  const spec = documents[0]!.spec as Json;
  const templates = documents.filter((d) => d.kind === 'AnalysisTemplate');
  const dropped = Object.fromEntries(notCarried.map((n) => [formatPath(n.path), n.reason]));
  return { spec, templates, dropped };
}

test('blueGreen: pre/post-promotion analyses, autoPromotionSeconds and scaleDownDelaySeconds', () => {
  const { spec, dropped } = run(
    rollout(`    blueGreen:
      activeService: app-active
      autoPromotionSeconds: 30
      scaleDownDelaySeconds: 60
      previewReplicaCount: 1
      prePromotionAnalysis: {templates: [{templateName: smoke}]}
      postPromotionAnalysis: {templates: [{templateName: smoke}]}
`) +
      template(
        'smoke',
        '  metrics:\n  - name: ok\n    provider: {web: {url: "http://smoke.test/", jsonPath: "{$.ok}"}}\n    successCondition: result == true\n',
      ),
  );
  assert.deepEqual(spec.strategy, {
    blueGreen: {
      autoPromotionDelay: '30s',
      scaleDownDelay: '60s',
      prePromotionAnalysis: { templates: ['smoke'] },
      postPromotionAnalysis: { templates: ['smoke'] },
    },
  });
  assert.deepEqual(Object.keys(dropped), ['spec.strategy.blueGreen.previewReplicaCount']);
});

test('the Gateway API plugin and NGINX carry over; SMI is listed and replica ratios used, its header steps dropped', () => {
  const canary = (routing: string) =>
    rollout(`    canary:
      stableService: app
      trafficRouting:
${routing}
      steps:
      - setWeight: 10
      - setHeaderRoute: {name: h, match: [{headerName: x-canary, headerValue: {prefix: yes}}]}
`);
  const gw = run(
    canary('        plugins:\n          argoproj-labs/gatewayAPI: {httpRoute: app-route, namespace: edge}'),
  );
  assert.deepEqual(gw.spec.trafficRouting, { gatewayAPI: { httpRoute: 'app-route', namespace: 'edge' } });
  assert.deepEqual((gw.spec.strategy as { canary: { steps: unknown[] } }).canary.steps[1], {
    setHeaderRoute: { match: { header: 'x-canary', prefix: 'yes' } },
  });
  const nginx = run(canary('        nginx: {stableIngress: app-ingress, annotationPrefix: custom.nginx.org}'));
  assert.deepEqual(nginx.spec.trafficRouting, {
    nginx: { ingress: 'app-ingress', annotationPrefix: 'custom.nginx.org' },
  });
  const smi = run(canary('        smi: {rootService: app-root}'));
  assert.deepEqual(smi.spec.trafficRouting, { replicas: {} });
  assert.deepEqual((smi.spec.strategy as { canary: { steps: unknown[] } }).canary.steps, [{ setWeight: 10 }]);
  assert.match(smi.dropped['spec.strategy.canary.trafficRouting.smi']!, /SMI TrafficSplit: kanari has no router/);
  assert.match(smi.dropped['spec.strategy.canary.steps[1].setHeaderRoute']!, /replicas router/);
});

test('args: literal and fieldRef values are written in; a pod template hash drops the metric that needs it', () => {
  const { spec, templates, dropped } = run(
    rollout(`    canary:
      stableService: app
      steps:
      - setWeight: 10
      - analysis:
          templates: [{templateName: rates}]
          args:
          - {name: ns, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
          - {name: team, valueFrom: {fieldRef: {fieldPath: "metadata.labels['team']"}}}
          - {name: hash, valueFrom: {podTemplateHashValue: Latest}}
`) +
      template(
        'rates',
        `  args: [{name: ns}, {name: team}, {name: hash}, {name: limit, value: "5"}]
  dryRun: [{metricName: errors}]
  metrics:
  - name: errors
    count: "{{args.limit}}"
    interval: 1m
    failureLimit: -1
    successCondition: all(result, {# < 0.01})
    provider: {prometheus: {address: "http://prom.test:9090", query: 'sum(rate(e{ns="{{args.ns}}",team="{{args.team}}"}[1m]))', timeout: 10}}
  - name: by-hash
    provider: {prometheus: {address: "http://prom.test:9090", query: 'up{hash="{{args.hash}}"}'}}
  - name: odd
    successCondition: result in [1]
    provider: {prometheus: {address: "http://prom.test:9090", query: 'up'}}
  - name: dog
    provider: {datadog: {query: x}}
`,
      ),
  );
  assert.deepEqual((spec.strategy as { canary: { steps: unknown[] } }).canary.steps[1], {
    analysis: { templates: ['rates'] },
  });
  assert.deepEqual((templates[0]!.spec as { threshold: { metrics: unknown[] } }).threshold.metrics, [
    {
      name: 'errors',
      provider: {
        prometheus: {
          address: 'http://prom.test:9090',
          query: 'sum(rate(e{ns="shop",team="pay"}[1m]))',
          timeout: '10s',
        },
      },
      successCondition: 'max(result) < 0.01',
      interval: '1m',
      count: 5,
      dryRun: true,
    },
  ]);
  assert.deepEqual(Object.keys(dropped), [
    'spec.metrics[0].failureLimit',
    'spec.metrics[1].provider.prometheus.query',
    'spec.metrics[2].successCondition',
    'spec.metrics[3].provider.datadog',
  ]);
  assert.match(dropped['spec.metrics[1].provider.prometheus.query']!, /pod template hash \(Latest\)/);
  assert.match(dropped['spec.metrics[2].successCondition']!, /condition language cannot read it/);
});

test('a template the Rollout names but the files do not hold is listed at the reference', () => {
  const { spec, dropped } = run(
    rollout(`    canary:
      stableService: app
      analysis: {templates: [{templateName: elsewhere}]}
      steps: [{setWeight: 50}, {experiment: {templates: []}}]
`),
  );
  assert.equal((spec.strategy as { canary: Json }).canary.analysis, undefined);
  assert.deepEqual(Object.keys(dropped), [
    'spec.strategy.canary.steps[1].experiment',
    'spec.strategy.canary.analysis.templates[0]',
  ]);
  assert.match(dropped['spec.strategy.canary.analysis.templates[0]']!, /no AnalysisTemplate named elsewhere/);
});

test('pause durations: seconds as numbers, Go durations, and one kanari cannot say', () => {
  const { spec, dropped } = run(
    rollout(`    canary:
      stableService: app
      steps: [{pause: {duration: 30}}, {pause: {duration: 1h30m}}, {pause: {duration: "90"}}, {pause: {duration: 500us}}]
`),
  );
  assert.deepEqual((spec.strategy as { canary: { steps: unknown[] } }).canary.steps, [
    { pause: { duration: '30s' } },
    { pause: { duration: '90m' } },
    { pause: { duration: '90s' } },
    { pause: { duration: '1ms' } },
  ]);
  assert.deepEqual(Object.keys(dropped), []);
  assert.throws(
    () => run(rollout('    canary:\n      steps: [{pause: {duration: soon}}]\n')),
    /r\.yaml:8:\d+ spec\.strategy\.canary\.steps\[0\]\.pause\.duration: is not a duration \(got "soon"\)/,
  );
});
