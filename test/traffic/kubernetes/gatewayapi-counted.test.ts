/**
 * Envoy Gateway counting behind the gatewayapi router: with a version header asked for,
 * each backendRef of kanari's weighted copies sets it (and so gets a cluster of its own),
 * header-route copies and the user's rules do not, the route still validates and reads back,
 * and the clusters the judge sums are those copies' positions, which no header route moves.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import type { KubeObject } from '../../../src/kube/api.js';
import { sameTraffic, TrafficRefused } from '../../../src/rollout/seams/traffic.js';
import type { TrafficState } from '../../../src/rollout/types.js';
import {
  BACKEND_POSITION,
  countedClusters,
  VERSION_HEADER,
  weightedCopyPositions,
} from '../../../src/traffic/kubernetes/gatewayapi/counted.js';
import { routeTraffic, splitRoute } from '../../../src/traffic/kubernetes/gatewayapi/route.js';
import { ROLLOUT, SERVICE, splitAt, stableOnly, userHttpRoute } from '../../helpers/kube/mesh-objects.js';

const ctx = { rollout: ROLLOUT.name, namespace: ROLLOUT.namespace, service: SERVICE, versionHeader: VERSION_HEADER };
type Ref = { name: string; filters?: { type: string; requestHeaderModifier?: { set?: unknown[] } }[] };
type Rule = { name?: string; backendRefs?: Ref[] };
const rulesOf = (route: KubeObject) => (route.spec as { rules: Rule[] }).rules;
const routes = [
  { header: 'x-canary', value: 'yes' },
  { cookie: 'beta', value: 'on' },
];

function write(route: KubeObject, state: TrafficState): KubeObject {
  const next = splitRoute(route, state, ctx);
  new HTTPRoute(next as never).validate();
  const observed = routeTraffic(next, ctx);
  if (observed) assert.ok(sameTraffic(observed, state), `read back ${JSON.stringify(observed)}`);
  return next;
}

const setter = (id: string) => ({
  type: 'RequestHeaderModifier',
  requestHeaderModifier: { set: [{ name: VERSION_HEADER, value: id }] },
});

describe('gatewayapi: counting with Envoy Gateway', () => {
  it('sets the version header on each weighted backendRef only', () => {
    const rules = rulesOf(write(userHttpRoute(), splitAt(25, { baseline: 'v3', routes, mirror: 10 })));
    for (const copy of rules.filter((r) => /^kanari-web-\d+$/.test(r.name ?? '')))
      assert.deepEqual(
        copy.backendRefs!.map((b) => b.filters),
        [[setter('v1')], [setter('v2')], [setter('v3')]],
      );
    for (const rule of rules.filter((r) => !/^kanari-web-\d+$/.test(r.name ?? '')))
      assert.ok(
        (rule.backendRefs ?? []).every((b) => b.filters === undefined),
        `${rule.name ?? 'a user rule'} carries no backendRef filter`,
      );
  });

  it('writes no filter unless asked: backendRef filters are implementation-specific', () => {
    const { versionHeader: _, ...plain } = ctx;
    const rules = rulesOf(splitRoute(userHttpRoute(), splitAt(25, { routes }), plain));
    assert.ok(rules.every((r) => (r.backendRefs ?? []).every((b) => b.filters === undefined)));
  });

  it('adds the header to a header modifier the user’s backendRef has, replacing one of the same name (a `remove` of it gives way)', () => {
    const route = userHttpRoute();
    const own = {
      type: 'RequestHeaderModifier',
      requestHeaderModifier: {
        set: [
          { name: 'X-Kanari-Version', value: 'forged' },
          { name: 'x-a', value: '1' },
        ],
        remove: ['X-Kanari-Version', 'x-b'],
      },
    };
    Object.assign(rulesOf(route)[0]!.backendRefs![0]!, { filters: [own] });
    const copy = rulesOf(write(route, splitAt(50)))[0]!;
    assert.deepEqual(copy.backendRefs![1]!.filters, [
      {
        type: 'RequestHeaderModifier',
        requestHeaderModifier: {
          set: [
            { name: 'x-a', value: '1' },
            { name: VERSION_HEADER, value: 'v2' },
          ],
          remove: ['x-b'],
        },
      },
    ]);
    assert.deepEqual(rulesOf(route)[0]!.backendRefs![0]!.filters, [own], 'the user’s rule is not changed');
  });

  it('keeps the weighted copies where counted.ts says, whatever the routes and versions', () => {
    const positions = weightedCopyPositions(userHttpRoute(), ctx);
    assert.deepEqual(positions, [0, 4]);
    const states = [
      splitAt(5),
      splitAt(25, { routes }),
      splitAt(25, { routes: routes.slice(1), baseline: 'v3' }),
      splitAt(100, { mirror: 5 }),
    ];
    for (const state of states) {
      const rules = rulesOf(write(userHttpRoute(), state));
      assert.deepEqual(
        positions.map((p) => rules[p]!.name),
        ['kanari-web-0', 'kanari-web-1'],
      );
      for (const p of positions)
        for (const [version, at] of Object.entries(BACKEND_POSITION)) {
          const id = state[version as keyof typeof BACKEND_POSITION];
          if (id !== undefined) assert.equal(rules[p]!.backendRefs![at]!.name, `web-${id}`);
        }
    }
    // Read from a route that has kanari's rules in it already (a held stable), the places are the same.
    const held = splitRoute(userHttpRoute(), stableOnly('v2'), ctx, true);
    assert.deepEqual(weightedCopyPositions(held, ctx), positions);
  });

  it('names each version’s clusters, one per weighted copy, in the route’s namespace', () => {
    assert.deepEqual(countedClusters(userHttpRoute(), ctx), {
      stable: ['httproute/shop/web/rule/0/backend/0', 'httproute/shop/web/rule/4/backend/0'],
      canary: ['httproute/shop/web/rule/0/backend/1', 'httproute/shop/web/rule/4/backend/1'],
      baseline: ['httproute/shop/web/rule/0/backend/2', 'httproute/shop/web/rule/4/backend/2'],
    });
  });

  it('refuses a route that does not send to the Service, or whose backendRef filters are of the wrong shape', () => {
    const none = userHttpRoute();
    (none.spec as { rules: Rule[] }).rules = [{ backendRefs: [{ name: 'cdn' }] }];
    assert.throws(() => countedClusters(none, ctx), TrafficRefused);
    assert.throws(() => countedClusters(none, ctx), /has no rule that sends to Service web/);
    for (const filters of ['x', [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 1 }] } }]]) {
      const bad = userHttpRoute();
      Object.assign(rulesOf(bad)[0]!.backendRefs![0]!, { filters });
      assert.throws(
        () => splitRoute(bad, splitAt(5), ctx),
        (e: Error) => {
          assert.ok(e instanceof TrafficRefused, e.stack);
          assert.match(e.message, /spec\.rules\[0\]\.backendRefs\[0\]\.filters/);
          return true;
        },
      );
    }
  });

  it('refuses a user’s header modifier whose `set` list is full: the version header would be a 17th', () => {
    const full = userHttpRoute();
    const sixteen = Array.from({ length: 16 }, (_, i) => ({ name: `x-h${i}`, value: String(i) }));
    Object.assign(rulesOf(full)[0]!.backendRefs![0]!, {
      filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: sixteen } }],
    });
    assert.throws(
      () => splitRoute(full, splitAt(5), ctx),
      (e: Error) => e instanceof TrafficRefused && /already sets 16 headers/.test(e.message),
    );
  });

  it('refuses a weighted copy whose version header was edited', () => {
    const route = splitRoute(userHttpRoute(), splitAt(25), ctx);
    rulesOf(route)[0]!.backendRefs![1]!.filters = [setter('v1')];
    assert.throws(() => routeTraffic(route, ctx), /kanari-web-0 differs/);
  });
});

describe('gatewayapi: a mirror of a backendRef with filters', () => {
  it('names the canary in RequestMirror without the backendRef’s filters (a mirror’s backendRef has none)', () => {
    const route = userHttpRoute();
    Object.assign(rulesOf(route)[0]!.backendRefs![0]!, { filters: [setter('x')] });
    const copy = rulesOf(splitRoute(route, splitAt(10, { mirror: 5 }), { ...ctx, versionHeader: undefined }))[0]!;
    const mirror = (copy as { filters: { requestMirror?: { backendRef: object } }[] }).filters.at(-1)!;
    assert.deepEqual(mirror.requestMirror!.backendRef, { group: '', kind: 'Service', name: 'web-v2', port: 80 });
  });

  it("will not count while another Rollout's release is in the same HTTPRoute: its copies would move this one's clusters", () => {
    const other = { ...ctx, rollout: 'cdn' };
    const shared = splitRoute(userHttpRoute(), splitAt(10), other);
    assert.throws(
      () => countedClusters(shared, ctx),
      (err: Error) =>
        err instanceof TrafficRefused && /Rollout cdn/.test(err.message) && /until its release ends/.test(err.message),
    );
    assert.doesNotThrow(
      () => countedClusters(splitRoute(shared, stableOnly('v1'), other), ctx),
      'free again once it ends',
    );
    assert.doesNotThrow(() => countedClusters(splitRoute(userHttpRoute(), splitAt(10), ctx), ctx), 'its own copies');
  });
});
