/**
 * Who counts a Rollout's requests, edited between releases, on the test API server: a
 * Rollout behind the Gateway API switched to the `envoy-gateway` preset while the operator
 * runs has its next release's weighted backendRefs carry the version header, without which
 * Envoy Gateway counts no version apart and the judge would find none of the clusters it reads.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { rolloutCrd } from '../../src/kube/crd.js';
import type { Operator } from '../../src/operator/operator.js';
import { VERSION_HEADER } from '../../src/traffic/kubernetes/gatewayapi/counted.js';
import { createApp, setImage, startCluster, startOperator, type TestCluster } from '../helpers/kube/cluster.js';
import { httpRouteCrd } from '../helpers/kube/crd-manifests.js';

const ROLLOUT = { apiVersion: 'kanari.dev/v1alpha1', kind: 'Rollout', namespace: 'default', name: 'gw' };
const ROUTE = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', namespace: 'default', name: 'gw' };
const metrics = (preset: string) => ({ prometheus: { address: 'http://127.0.0.1:9', preset } });

let cluster: TestCluster;
let operator: Operator;
const log: string[] = [];

before(async () => {
  cluster = await startCluster({ deploymentReadyDelayMs: 100 });
  const { client } = cluster;
  for (const crd of [rolloutCrd(), httpRouteCrd()]) await client.create(crd);
  await sleep(100); // the CRDs established
  await createApp(client, 'gw', 1, 'gw:1');
  await client.create({
    apiVersion: ROUTE.apiVersion,
    kind: ROUTE.kind,
    metadata: { name: 'gw', namespace: 'default' },
    spec: {
      parentRefs: [{ name: 'public', namespace: 'gateways' }],
      rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'gw', port: 80 }] }],
    },
  });
  await client.create({
    apiVersion: ROLLOUT.apiVersion,
    kind: ROLLOUT.kind,
    metadata: { name: 'gw', namespace: 'default' },
    spec: {
      workloadRef: { name: 'gw' },
      service: { name: 'gw' },
      trafficRouting: { gatewayAPI: { httpRoute: 'gw' } },
      metrics: metrics('istio'),
      // No analysis: the release stops at its pause, with kanari's copy in the route.
      strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } },
    },
  });
  operator = startOperator(client, log);
});

after(async () => {
  await operator.stop();
  await cluster.close();
});

const get = (ref: typeof ROUTE) => cluster.api.get(ref.apiVersion, ref.kind, ref.namespace, ref.name);
type Rule = { name?: string; backendRefs?: { filters?: unknown[] }[] };
const weightedCopy = () => ((get(ROUTE)?.spec as { rules: Rule[] }).rules ?? []).find((r) => r.name === 'kanari-gw-0');

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`${what} within ${ms} ms\n${log.join('\n')}`);
    await sleep(50);
  }
}

describe('the counting preset edited between releases', () => {
  it('a Rollout switched to envoy-gateway while the operator runs: its next release writes the version header', async () => {
    const status = () => get(ROLLOUT)?.status as { phase?: string } | undefined;
    await until('stable serves', () => status()?.phase === 'StableOnly');
    await cluster.client.patch(ROLLOUT, 'merge', { spec: { metrics: metrics('envoy-gateway') } });
    await until('the edit seen', () => (get(ROLLOUT)?.metadata.generation ?? 0) > 1);
    await sleep(1000); // a few resyncs: the edit read while no release runs
    await setImage(cluster.client, 'gw', 'gw:2');
    await until('kanari’s weighted copy in the route', () => weightedCopy() !== undefined);
    const refs = weightedCopy()!.backendRefs ?? [];
    assert.equal(refs.length, 2);
    for (const ref of refs)
      assert.match(
        JSON.stringify(ref.filters ?? []),
        new RegExp(VERSION_HEADER),
        'each version’s backendRef has its header',
      );
  });
});
