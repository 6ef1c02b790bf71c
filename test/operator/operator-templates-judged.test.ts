/**
 * A release through the replicas router (which the sequential test refuses: kube-proxy
 * assigns connections, not requests) judged by a threshold AnalysisTemplate resource
 * from a real Prometheus: the operator on the test API server with both generated CRDs,
 * the weight exporter sending requests to each version by its share of ready pods and
 * exposing Istio's metrics, and the `istio/success-rate` preset, whose `{{target}}` is
 * each version's Deployment. A healthy release is promoted even though its template is
 * broken after it started, before its analysis step (a release judges with the template
 * as it was when it started); a release whose pods fail 30% of requests is rolled back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { analysisTemplateCrd, rolloutCrd } from '../../src/kube/crd.js';
import { updateObject } from '../../src/kube/update.js';
import type { Operator } from '../../src/operator/operator.js';
import { versionOf } from '../../src/operator/release.js';
import {
  appTemplate,
  createApp,
  replicasRollout,
  setImage,
  startCluster,
  startOperator,
  type TestCluster,
} from '../helpers/kube/cluster.js';
import { WeightExporter, type VersionBehaviour } from '../helpers/kube/weight-exporter.js';
import { startPrometheus, type TestPrometheus } from '../helpers/prometheus.js';

let cluster: TestCluster;
let exporter: WeightExporter;
let prometheus: TestPrometheus;
let operator: Operator;
const log: string[] = [];
const HEALTHY: VersionBehaviour = { errorRate: 0.01, latencyMs: { median: 20, sigma: 0.3 } };
const behaviour: Record<string, VersionBehaviour> & { default: VersionBehaviour } = { default: HEALTHY };

const TEMPLATE = { apiVersion: 'kanari.dev/v1alpha1', kind: 'AnalysisTemplate', namespace: 'default', name: 'success' };

/** Istio's success rate of the canary's Deployment over the last 6 s, every 2 s, three times. */
const successTemplate = (condition: string) => ({
  threshold: {
    metrics: [
      {
        name: 'success-rate',
        provider: { prometheus: { address: prometheus.url, preset: 'istio/success-rate', window: '6s' } },
        initialDelay: '3s',
        interval: '2s',
        count: 3,
        // The canary's first series may not be scraped yet: an empty answer or two is no verdict.
        inconclusiveLimit: 2,
        successCondition: condition,
      },
    ],
  },
});

before(async () => {
  cluster = await startCluster({ deploymentReadyDelayMs: 50 });
  const { client } = cluster;
  for (const crd of [rolloutCrd(), analysisTemplateCrd()]) await client.create(crd);
  await sleep(100); // the CRDs established
  await createApp(client, 'web', 4, 'web:1');
  exporter = new WeightExporter({
    apiServer: cluster.api.url,
    namespace: 'default',
    routing: { replicas: { service: 'web' } },
    rate: 400,
    seed: 11,
    presets: ['istio'],
    behaviour,
  });
  prometheus = await startPrometheus((await exporter.start()).target, 'unused');
  await client.create({
    apiVersion: TEMPLATE.apiVersion,
    kind: TEMPLATE.kind,
    metadata: { name: TEMPLATE.name, namespace: TEMPLATE.namespace },
    spec: successTemplate('result >= 0.95'),
  });
  operator = startOperator(client, log);
  await client.create(
    replicasRollout('web', [
      { setWeight: 25 },
      { pause: { duration: '2s' } },
      { analysis: { templates: ['success'] } },
    ]),
  );
});

after(async () => {
  await operator?.stop();
  await prometheus?.stop();
  await exporter?.stop();
  await cluster?.close();
});

const rollout = () => cluster.api.get('kanari.dev/v1alpha1', 'Rollout', 'default', 'web');

async function until(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline)
      assert.fail(`${what} within ${ms} ms; ${rollout()?.status?.message}\n${log.slice(-30).join('\n')}`);
    await sleep(100);
  }
}

const writeTemplate = (condition: string) =>
  updateObject(cluster.client, TEMPLATE, (t) => ({ ...t, spec: successTemplate(condition) }));
const analysisRunning = () =>
  (rollout()?.status?.state?.analyses ?? []).some((a: { endedAt?: number }) => a.endedAt === undefined);

describe('Kubernetes mode judged by an AnalysisTemplate resource (replicas router)', () => {
  it('promotes a healthy release with the template it started with, and rolls back a failing one', async () => {
    await until('stable serves', () => rollout()?.status?.state?.phase === 'StableOnly' && exporter.sent.size > 0);

    const v2 = versionOf(appTemplate('web', 'web:2'));
    await setImage(cluster.client, 'web', 'web:2');
    await until('v2 released', () => rollout()?.status?.state?.canary?.version === v2);
    // No version could pass this; the release started before it, so its analysis (not open yet) must not read it.
    await writeTemplate('result >= 2');
    assert.ok(!analysisRunning(), 'the analysis had not opened yet');
    await until('v2 promoted', () => rollout()?.status?.state?.result?.outcome === 'Promoted');
    const promoted = rollout()!.status.state;
    assert.equal(promoted.stable.version, v2);
    assert.equal(promoted.analyses.at(-1)?.template, 'success');
    assert.equal(promoted.analyses.at(-1)?.verdict, 'Successful');
    assert.ok((exporter.sent.get(`web-${v2}`) ?? 0) > 0, "v2's Deployment served requests while judged");

    await writeTemplate('result >= 0.95');
    const v3 = versionOf(appTemplate('web', 'web:3'));
    behaviour[`web-${v3}`] = { errorRate: 0.3, latencyMs: { median: 20, sigma: 0.3 } };
    await setImage(cluster.client, 'web', 'web:3');
    await until('v3 rolled back', () => rollout()?.status?.state?.result?.outcome === 'RolledBack');
    const rolledBack = rollout()!.status.state;
    assert.match(rolledBack.result.reason, /success/);
    assert.equal(rolledBack.analyses.at(-1)?.verdict, 'Failed');
    assert.equal(rolledBack.stable.version, v2);
    assert.ok((exporter.sent.get(`web-${v3}`) ?? 0) > 0, 'v3 served some requests before it was judged');
  });
});
