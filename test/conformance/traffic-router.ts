/**
 * What every `TrafficRouter` must do, run against each implementation (the fake the
 * engine's unit tests use, and kanari's own router for real): take a state and serve
 * it as read back by observe(), take the same state again without harm, and declare its
 * capabilities from the known set.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sameTraffic, type TrafficRouter } from '../../src/rollout/seams/traffic.js';
import type { HeaderRoute, TrafficState } from '../../src/rollout/types.js';

export interface TrafficRouterUnderTest {
  router: TrafficRouter;
  /** The match routes it is asked to serve, for a router that can match only some ways (its `matchProblem`). */
  routes?: HeaderRoute[];
  close(): Promise<void>;
}

const endpoints = (id: string) => [`http://127.0.0.1:${{ v1: 9101, v2: 9102, 'v1-baseline': 9103 }[id] ?? 9199}`];

const stableOnly: TrafficState = { stable: 'v1', weights: { canary: 0, baseline: 0 }, routes: [], mirror: 0 };
const split: TrafficState = { stable: 'v1', canary: 'v2', weights: { canary: 25, baseline: 0 }, routes: [], mirror: 0 };

/** The states a router can do, by the capability each needs. */
const BY_CAPABILITY: [string, TrafficState][] = [
  [
    'match',
    {
      ...split,
      routes: [
        { header: 'x-canary', value: 'yes' },
        { cookie: 'beta', prefix: 'on' },
      ],
    },
  ],
  ['mirror', { ...split, weights: { canary: 0, baseline: 0 }, mirror: 10 }],
  ['baseline', { ...split, baseline: 'v1-baseline', weights: { canary: 25, baseline: 25 } }],
];

export function trafficRouterConformance(name: string, open: () => Promise<TrafficRouterUnderTest>): void {
  describe(`TrafficRouter conformance: ${name}`, () => {
    const withRouter = (test: (router: TrafficRouter, u: TrafficRouterUnderTest) => Promise<void>) => async () => {
      const u = await open();
      try {
        await test(u.router, u);
      } finally {
        await u.close();
      }
    };

    it(
      'declares only capabilities from the known set, and at least weights',
      withRouter(async (router) => {
        const known = new Set(['weights', 'match', 'mirror', 'sticky', 'baseline']);
        for (const c of router.supports) assert.ok(known.has(c), `unknown capability ${c}`);
        assert.ok(router.supports.has('weights'));
        assert.ok(router.name.length > 0);
      }),
    );

    it(
      'serves what it was asked, as observe() reads back: stable only, then a split',
      withRouter(async (router) => {
        await router.apply(stableOnly, endpoints);
        assert.ok(sameTraffic(await router.observe(), stableOnly), 'stable only');
        await router.apply(split, endpoints);
        const observed = await router.observe();
        assert.ok(sameTraffic(observed, split), `a 25% split, observed ${JSON.stringify(observed)}`);
        assert.ok(!sameTraffic(observed, stableOnly), 'and no longer the state before');
      }),
    );

    it(
      'takes the same state twice without harm (apply is idempotent)',
      withRouter(async (router) => {
        await router.apply(split, endpoints);
        await router.apply(split, endpoints);
        assert.ok(sameTraffic(await router.observe(), split));
      }),
    );

    it(
      'serves every state its capabilities allow',
      withRouter(async (router, u) => {
        await router.apply(stableOnly, endpoints);
        for (const [capability, byDefault] of BY_CAPABILITY) {
          if (!router.supports.has(capability as never)) continue;
          const state = capability === 'match' && u.routes ? { ...byDefault, routes: u.routes } : byDefault;
          await router.apply(state, endpoints);
          assert.ok(sameTraffic(await router.observe(), state), `${capability}: ${JSON.stringify(state)}`);
        }
      }),
    );
  });
}
