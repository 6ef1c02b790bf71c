/**
 * The traffic reconciler's history of served splits, which the sample-ratio guard asks
 * about each window: a window gets the split that served all of it once settled, and none
 * when it straddles a change — however late it is asked.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TrafficReconciler } from '../../src/rollout/engine/traffic.js';
import type { EngineContext } from '../../src/rollout/engine/context.js';
import type { RolloutStatus, TrafficState } from '../../src/rollout/types.js';
import { FakeTraffic, VirtualClock } from '../helpers/fakes.js';

const split = (canary: number): TrafficState => ({
  stable: 's1',
  canary: 'c1',
  weights: { canary, baseline: 0 },
  routes: [],
  mirror: 0,
});

describe('the splits the data plane served', () => {
  it('answers a window only from one settled split, before and after a change', async () => {
    const clock = new VirtualClock();
    const router = new FakeTraffic();
    let status = { traffic: split(20), trafficSeq: 1, appliedSeq: 0 } as RolloutStatus;
    const ctx = {
      name: 'shop',
      clock,
      status: () => status,
      send: (e: { type: string; seq?: number }) => {
        if (e.type === 'trafficApplied') status = { ...status, appliedSeq: e.seq! };
        return Promise.resolve({});
      },
      log: () => {},
    } as unknown as EngineContext;
    const traffic = new TrafficReconciler(ctx, router, { isReady: () => true, endpoints: () => [] });
    const t0 = clock.now();
    await traffic.reconcile(1);
    clock.advance(60_000);
    await traffic.reconcile(2); // the same split again changes nothing
    const t1 = clock.now();
    status = { ...status, traffic: split(50), trafficSeq: 2 };
    await traffic.reconcile(3);
    clock.advance(60_000);
    const weight = (start: number, end: number) => traffic.trafficDuring(start, end)?.weights.canary;

    assert.equal(weight(t0, t0 + 1000), undefined, 'not settled yet');
    assert.equal(weight(t0 + 3000, t1), 20);
    assert.equal(weight(t1 - 14_000, t1 + 1000), undefined, 'straddles the change');
    assert.equal(weight(t1 + 1000, t1 + 16_000), undefined, 'the new split had not settled at its start');
    assert.equal(weight(t1 + 3000, t1 + 18_000), 50);
  });
});
