import { test } from 'node:test';
import assert from 'node:assert/strict';
import { imported, steps } from './helpers.js';

test('rollout-canary.yaml: weights and pauses carry over; the inline template becomes a Deployment', () => {
  const { rollout, result, dropped, reasons } = imported(['argo/rollout-canary.yaml']);
  assert.deepEqual(steps(rollout), [
    { setWeight: 20 },
    { pause: {} },
    { setWeight: 40 },
    { pause: { duration: '40s' } },
    { setWeight: 60 },
    { pause: { duration: '20s' } },
    { setWeight: 80 },
    { pause: { duration: '20s' } },
  ]);
  assert.deepEqual(rollout.spec.trafficRouting, { replicas: {} });
  assert.deepEqual(rollout.spec.workloadRef, { name: 'rollout-canary' });
  assert.equal(rollout.spec.replicas, 5);
  assert.equal((result.deployments[0]!.spec as { replicas: number }).replicas, 5);
  assert.deepEqual(dropped, [
    'Rollout/rollout-canary spec.template',
    'Rollout/rollout-canary spec.strategy.canary',
    'Rollout/rollout-canary spec.revisionHistoryLimit',
  ]);
  assert.match(reasons['Rollout/rollout-canary spec.strategy.canary']!, /names no Service.*assumed rollout-canary/);
});

test('analysis.md background analysis: args bound into the query, startingStep kept, result[0] converted', () => {
  const { rollout, templates, dropped } = imported(['argo/background-analysis.yaml']);
  assert.equal(steps(rollout).length, 8);
  assert.deepEqual(rollout.spec.strategy.canary!.analysis, { templates: ['success-rate'], startingStep: 2 });
  const metric = templates[0]!.spec.threshold!.metrics[0]!;
  assert.equal(metric.successCondition, 'default(result[0], result) >= 0.95');
  assert.equal(metric.failureLimit, 3);
  assert.equal(metric.interval, 300_000);
  assert.match(
    metric.provider.prometheus!.query!,
    /destination_service=~"guestbook-svc\.default\.svc\.cluster\.local"/,
  );
  assert.deepEqual(dropped, ['Rollout/guestbook spec.strategy.canary']);
});

test('rollout-analysis-step.yaml: Job metrics are not carried, so the analysis step is dropped with its templates', () => {
  const { rollout, templates, dropped, reasons } = imported([
    'argo/rollout-analysis-step.yaml',
    'argo/analysis-templates.yaml',
    'argo/cluster-analysis-templates.yaml',
  ]);
  assert.deepEqual(steps(rollout), [{ setWeight: 25 }]);
  assert.equal(templates.length, 0);
  assert.deepEqual(dropped, [
    'Rollout/rollout-analysis-step spec.template',
    'Rollout/rollout-analysis-step spec.strategy.canary',
    'Rollout/rollout-analysis-step spec.strategy.canary.steps[1].analysis.templates[0]',
    'Rollout/rollout-analysis-step spec.strategy.canary.steps[1].analysis.templates[1]',
    'Rollout/rollout-analysis-step spec.strategy.canary.steps[1].analysis',
    'Rollout/rollout-analysis-step spec.revisionHistoryLimit',
    'AnalysisTemplate/pass ',
    'AnalysisTemplate/random-fail spec.metrics[0].provider.job',
    'ClusterAnalysisTemplate/always-pass spec.metrics[0].provider.job',
  ]);
  assert.match(reasons['AnalysisTemplate/random-fail spec.metrics[0].provider.job']!, /no Kubernetes Jobs/);
  assert.match(reasons['AnalysisTemplate/pass ']!, /no Rollout or Canary in the files given uses it/);
});

test('rollout-bluegreen.yaml: activeService is the Service, autoPromotionEnabled false waits for promote', () => {
  const { rollout, dropped } = imported(['argo/rollout-bluegreen.yaml']);
  assert.deepEqual(rollout.spec.strategy, { blueGreen: { autoPromotion: false } });
  assert.deepEqual(rollout.spec.service, { name: 'rollout-bluegreen-active' });
  assert.deepEqual(dropped, [
    'Rollout/rollout-bluegreen spec.template',
    'Rollout/rollout-bluegreen spec.strategy.blueGreen.previewService',
    'Rollout/rollout-bluegreen spec.revisionHistoryLimit',
    'Service/rollout-bluegreen-active ',
    'Service/rollout-bluegreen-preview ',
  ]);
});

test('istio-subset-split.yaml: the VirtualService routes and DestinationRule carry over; subset names do not', () => {
  const { rollout, dropped } = imported(['argo/istio-subset-split.yaml']);
  assert.deepEqual(rollout.spec.trafficRouting, {
    istio: {
      virtualService: { name: 'istio-subset-split-vsvc', routes: ['primary'] },
      destinationRule: { name: 'istio-subset-split-destrule' },
    },
  });
  assert.deepEqual(steps(rollout), [{ setWeight: 10 }, { pause: {} }]);
  assert.deepEqual(dropped, [
    'Service/istio-subset-split ',
    'VirtualService/istio-subset-split-vsvc ',
    'DestinationRule/istio-subset-split-destrule ',
    'Rollout/istio-subset-split spec.template',
    'Rollout/istio-subset-split spec.strategy.canary',
    'Rollout/istio-subset-split spec.strategy.canary.trafficRouting.istio.destinationRule.canarySubsetName',
    'Rollout/istio-subset-split spec.strategy.canary.trafficRouting.istio.destinationRule.stableSubsetName',
  ]);
});

test('istio-mirror.yaml: setMirrorRoute becomes setMirror; setCanaryScale and the match are not carried', () => {
  const { rollout, dropped, reasons } = imported(['argo/istio-mirror.yaml']);
  assert.deepEqual(steps(rollout), [{ setMirror: { percent: 50 } }, { pause: {} }]);
  assert.equal(
    reasons['Rollout/istio-host-split spec.strategy.canary.steps[0].setCanaryScale'],
    'kanari sizes versions itself; dropped',
  );
  assert.deepEqual(dropped, [
    'Service/istio-host-split-canary ',
    'Service/istio-host-split-stable ',
    'VirtualService/istio-host-split-vsvc ',
    'Rollout/istio-host-split spec.template',
    'Rollout/istio-host-split spec.strategy.canary.trafficRouting.istio',
    'Rollout/istio-host-split spec.strategy.canary.trafficRouting.managedRoutes',
    'Rollout/istio-host-split spec.strategy.canary.steps[0].setCanaryScale',
    'Rollout/istio-host-split spec.strategy.canary.steps[1].setMirrorRoute.name',
    'Rollout/istio-host-split spec.strategy.canary.steps[1].setMirrorRoute.match',
    'Rollout/istio-host-split spec.strategy.canary.canaryService',
    'Gateway/istio-host-split-gateway ',
  ]);
});

test('header routes: the first match carries, the others are listed; a route with a name only removes it', () => {
  const { rollout, dropped } = imported(['argo/header-route.yaml']);
  assert.deepEqual(steps(rollout), [
    { setWeight: 20 },
    { setHeaderRoute: { match: { header: 'Custom-Header1', value: 'Mozilla' } } },
    { pause: {} },
    { setHeaderRoute: {} },
  ]);
  assert.deepEqual(dropped, [
    'Rollout/rollouts-demo spec.strategy.canary.trafficRouting.istio',
    'Rollout/rollouts-demo spec.strategy.canary.trafficRouting.managedRoutes',
    'Rollout/rollouts-demo spec.strategy.canary.steps[1].setHeaderRoute.name',
    'Rollout/rollouts-demo spec.strategy.canary.steps[1].setHeaderRoute.match[1]',
    'Rollout/rollouts-demo spec.strategy.canary.steps[1].setHeaderRoute.match[2]',
    'Rollout/rollouts-demo spec.strategy.canary.steps[3].setHeaderRoute.name',
    'Rollout/rollouts-demo spec.strategy.canary.canaryService',
  ]);
});
