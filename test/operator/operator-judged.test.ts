/**
 * The whole of Kubernetes mode judged as it would be on a cluster with Istio: the operator
 * on the test API server (with kanari's generated CRD), the Istio router writing the
 * user's VirtualService and DestinationRule, a weight exporter turning what it wrote into
 * Istio's request metrics, a real Prometheus scraping them, and the default sequential
 * judge counting from that Prometheus. A healthy release is promoted; a release whose pods
 * fail 30% of requests is rolled back by the judge, and the user's routing objects end as
 * they began.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { rolloutCrd } from '../../src/kube/crd.js';
import { kubernetesWorld } from '../../src/operator/compose.js';
import { Operator } from '../../src/operator/operator.js';
import { versionOf } from '../../src/operator/release.js';
import { appTemplate, createApp, setImage, startCluster, type TestCluster } from '../helpers/kube/cluster.js';
import { destinationRuleCrd, virtualServiceCrd } from '../helpers/kube/crd-manifests.js';
import { WeightExporter, type VersionBehaviour } from '../helpers/kube/weight-exporter.js';
import { startPrometheus, type TestPrometheus } from '../helpers/prometheus.js';

let cluster: TestCluster;
let exporter: WeightExporter;
let prometheus: TestPrometheus;
let operator: Operator;
const log: string[] = [];
const HEALTHY: VersionBehaviour = { errorRate: 0.01, latencyMs: { median: 20, sigma: 0.3 } };
const behaviour: Record<string, VersionBehaviour> & { default: VersionBehaviour } = { default: HEALTHY };

const template = (image: string) => appTemplate('web', image);

const VIRTUAL_SERVICE = {
  apiVersion: 'networking.istio.io/v1beta1',
  kind: 'VirtualService',
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    hosts: ['web'],
    http: [
      { name: 'api', match: [{ uri: { prefix: '/api' } }], timeout: '5s', route: [{ destination: { host: 'web' } }] },
    ],
  },
};
const DESTINATION_RULE = {
  apiVersion: 'networking.istio.io/v1beta1',
  kind: 'DestinationRule',
  metadata: { name: 'web', namespace: 'default' },
  spec: { host: 'web', trafficPolicy: { connectionPool: { http: { http1MaxPendingRequests: 100 } } } },
};

before(async () => {
  cluster = await startCluster({ deploymentReadyDelayMs: 50 });
  const { client } = cluster;
  for (const crd of [rolloutCrd(), virtualServiceCrd(), destinationRuleCrd()]) await client.create(crd);
  await sleep(100); // the CRDs established
  await client.create(VIRTUAL_SERVICE);
  await client.create(DESTINATION_RULE);
  await createApp(client, 'web', 2, 'web:1');
  exporter = new WeightExporter({
    apiServer: cluster.api.url,
    namespace: 'default',
    routing: { istio: { virtualService: 'web', destinationRule: 'web' } },
    rate: 400,
    seed: 7,
    presets: ['istio'],
    behaviour,
    requests: [{ share: 1, headers: { ':path': '/api/items' } }],
  });
  prometheus = await startPrometheus((await exporter.start()).target, 'unused');
  operator = new Operator({
    client,
    leaseNamespace: 'default',
    identity: 'operator-1',
    resyncMs: 500,
    election: { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 200 },
    // The stand-in Deployment controller takes pods out at once: no need to hold stable's routes 30 s.
    world: (c) => kubernetesWorld(c, { pollMs: 100, holdMs: 1000 }),
    log: (line) => log.push(line),
  });
  operator.start();
  await client.create({
    apiVersion: 'kanari.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      workloadRef: { name: 'web' },
      service: { name: 'web' },
      trafficRouting: { istio: { virtualService: { name: 'web' }, destinationRule: { name: 'web' } } },
      metrics: { prometheus: { address: prometheus.url } },
      strategy: {
        canary: {
          analysis: { templates: ['sequential'] },
          steps: [{ setWeight: 20 }, { pause: { duration: '8s' } }, { setWeight: 50 }, { pause: { duration: '8s' } }],
        },
      },
    },
  });
});

after(async () => {
  await operator?.stop();
  await prometheus?.stop();
  await exporter?.stop();
  await cluster?.close();
});

const rollout = () => cluster.api.get('kanari.dev/v1alpha1', 'Rollout', 'default', 'web');
const userObjects = () => ({
  vs: cluster.api.get('networking.istio.io/v1beta1', 'VirtualService', 'default', 'web')?.spec,
  dr: cluster.api.get('networking.istio.io/v1beta1', 'DestinationRule', 'default', 'web')?.spec,
});

async function until(what: string, ok: () => boolean, ms = 60_000, more = () => ''): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline)
      assert.fail(`${what} within ${ms} ms; ${rollout()?.status?.message}\n${log.slice(-20).join('\n')}\n${more()}`);
    await sleep(100);
  }
}

const setTemplate = (image: string) => setImage(cluster.client, 'web', image);

describe('Kubernetes mode judged from Prometheus (Istio)', () => {
  it('promotes a healthy release and rolls back a failing one, judged by the default judge from Istio counts', async () => {
    await until('stable serves', () => rollout()?.status?.phase === 'StableOnly' && exporter.sent.size > 0);
    const before = structuredClone(userObjects());

    await setTemplate('web:2');
    await until('v2 promoted', () => rollout()?.status?.state?.result?.outcome === 'Promoted', 90_000);
    const promoted = rollout()!.status.state;
    assert.equal(promoted.stable.version, versionOf(template('web:2')));
    assert.equal(promoted.analyses[0]?.template, 'sequential');

    const v3 = versionOf(template('web:3'));
    behaviour[`web-${v3}`] = { errorRate: 0.3, latencyMs: { median: 20, sigma: 0.3 } };
    await setTemplate('web:3');
    await until('v3 rolled back', () => rollout()?.status?.state?.result?.outcome === 'RolledBack', 90_000);
    const rolledBack = rollout()!.status.state;
    assert.match(rolledBack.result.reason, /sequential/);
    assert.equal(rolledBack.stable.version, versionOf(template('web:2')));
    assert.ok((exporter.sent.get(`web-${v3}`) ?? 0) > 0, 'v3 served some requests before it was judged');

    // The user's routes are back as written, once kanari's rules are gone (after their hold).
    await until(
      'the user objects as before',
      () => isDeepStrictEqual(userObjects(), before),
      60_000,
      () => `before ${JSON.stringify(before)}\nnow ${JSON.stringify(userObjects())}`,
    );
  });
});
