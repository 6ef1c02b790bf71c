/**
 * The Istio router against the test API server, through kanari's HTTP client: a whole
 * rollout and a rollback leave the user's VirtualService and (one apply later)
 * DestinationRule deep-equal to what the server stored; every object written validates
 * against Istio's schema; a user's concurrent edit makes a real 409, which is retried with
 * the user's edit kept.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DestinationRule } from '@kubernetes-models/istio/networking.istio.io/v1beta1/DestinationRule';
import { VirtualService } from '@kubernetes-models/istio/networking.istio.io/v1beta1/VirtualService';
import type { KubeClient, KubeObject } from '../../../src/kube/api.js';
import { updateObject } from '../../../src/kube/update.js';
import { sameTraffic, type TrafficRouter } from '../../../src/rollout/seams/traffic.js';
import type { TrafficState } from '../../../src/rollout/types.js';
import { IstioTraffic } from '../../../src/traffic/kubernetes/istio/router.js';
import { meshCluster, racedBy, type MeshCluster } from '../../helpers/kube/mesh-cluster.js';
import {
  istioCrds,
  ROLLOUT,
  SERVICE,
  splitAt,
  stableOnly,
  userDestinationRule,
  userVirtualService,
  wholeRollout,
} from '../../helpers/kube/mesh-objects.js';

const VS = { apiVersion: 'networking.istio.io/v1beta1', kind: 'VirtualService', namespace: 'shop', name: 'web' };
const DR = { ...VS, kind: 'DestinationRule' };
const endpoints = () => [];
const split = splitAt;

let cluster: MeshCluster;
let original: { vs: KubeObject; dr: KubeObject };
before(async () => {
  cluster = await meshCluster(istioCrds(), [userVirtualService(), userDestinationRule()]);
  original = { vs: cluster.stored[0]!, dr: cluster.stored[1]! };
});
after(() => cluster.close());

const router = (client: KubeClient = cluster.client): TrafficRouter =>
  new IstioTraffic({
    client,
    rollout: ROLLOUT,
    service: SERVICE,
    routing: { virtualService: { name: 'web' }, destinationRule: { name: 'web' } },
    holdMs: 0,
  });

async function step(r: TrafficRouter, state: TrafficState): Promise<void> {
  await r.apply(state, endpoints);
  assert.ok(sameTraffic(await r.observe(), state), `observed as asked: ${JSON.stringify(state)}`);
  new VirtualService((await cluster.client.get(VS)) as never).validate();
  new DestinationRule((await cluster.client.get(DR)) as never).validate();
}

const specOf = async (ref: typeof VS) => (await cluster.client.get(ref))!.spec;

describe('istio router on the test API server', () => {
  it('a whole rollout, then a rollback, leave the user’s VirtualService and DestinationRule deep-equal', async () => {
    const r = router();
    for (const state of wholeRollout()) await step(r, state);
    await step(r, stableOnly('v2'));
    await step(r, stableOnly('v2'));
    await step(r, stableOnly('v2'));
    assert.deepEqual(await specOf(VS), original.vs.spec, 'after promotion');
    assert.deepEqual(
      await specOf(DR),
      original.dr.spec,
      'after promotion: routes, then subsets, one apply after the other',
    );
    await step(r, split(25, { routes: [{ header: 'X-Canary', value: 'yes' }], mirror: 5 }));
    await step(r, split(40, { baseline: 'v1-baseline', weights: { canary: 40, baseline: 30 } }));
    for (let n = 0; n < 3; n++) await step(r, stableOnly('v1'));
    assert.deepEqual(await specOf(VS), original.vs.spec, 'after the rollback');
    assert.deepEqual(await specOf(DR), original.dr.spec, 'after the rollback');
  });

  it('retries a write a user’s concurrent edit beat with a 409, and keeps the user’s edit', async () => {
    const raced = racedBy(cluster.client, 'VirtualService', () =>
      updateObject(cluster.client, VS, (vs) => {
        (vs.spec as { hosts: string[] }).hosts.push('www.example.com');
        return vs;
      }),
    );
    await step(router(raced.client), split(50));
    assert.equal(raced.conflicts(), 1, 'the first write met the server’s 409');
    assert.deepEqual(((await specOf(VS)) as { hosts: string[] }).hosts, ['web', 'shop.example.com', 'www.example.com']);
  });
});
