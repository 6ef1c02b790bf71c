/**
 * The VirtualService and DestinationRule a traffic state makes, and the state read back:
 * the user's routes and subsets survive a whole rollout unchanged, every object written
 * validates against Istio's schema, what is read back is what was asked, and hostile
 * objects are refused with the field named, never a crash.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DestinationRule } from '@kubernetes-models/istio/networking.istio.io/v1beta1/DestinationRule';
import { VirtualService } from '@kubernetes-models/istio/networking.istio.io/v1beta1/VirtualService';
import type { KubeObject } from '../../../src/kube/api.js';
import { sameTraffic, TrafficRefused } from '../../../src/rollout/seams/traffic.js';
import type { TrafficState } from '../../../src/rollout/types.js';
import { missingSubsets, subsetIds, withSubsets } from '../../../src/traffic/kubernetes/istio/destination-rule.js';
import {
  splitVirtualService,
  subsetsInUse,
  virtualServiceTraffic,
  type VirtualServiceContext,
} from '../../../src/traffic/kubernetes/istio/virtual-service.js';
import {
  ROLLOUT,
  splitAt,
  stableOnly,
  userDestinationRule,
  userVirtualService,
  wholeRollout,
} from '../../helpers/kube/mesh-objects.js';

const ctx: VirtualServiceContext = { rollout: ROLLOUT.name, namespace: ROLLOUT.namespace, service: 'web' };
type Route = {
  name?: string;
  match?: { headers?: Record<string, unknown> }[];
  route?: { destination: { host: string; subset?: string }; weight?: number }[];
  mirror?: unknown;
  mirrorPercentage?: unknown;
};
const httpOf = (vs: KubeObject) => (vs.spec as { http: Route[] }).http;
const split = splitAt;
const lower = (s: TrafficState): TrafficState => ({
  ...s,
  routes: s.routes.map((r) => (r.header ? { ...r, header: r.header.toLowerCase() } : r)),
});

function write(vs: KubeObject, state: TrafficState, c = ctx): KubeObject {
  const next = splitVirtualService(vs, state, c);
  new VirtualService(next as never).validate();
  const observed = virtualServiceTraffic(next, c);
  if (observed)
    assert.ok(
      sameTraffic(observed, lower(state)),
      `read back ${JSON.stringify(observed)} for ${JSON.stringify(state)}`,
    );
  else assert.equal(state.canary, undefined);
  return next;
}

const refused = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (err) => {
    assert.ok(err instanceof TrafficRefused, `a TrafficRefused, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });

describe('istio: the user’s VirtualService and DestinationRule survive', () => {
  it('a whole rollout (5 → 25 → 50 → 100 → promoted), subsets removed once no route names them', () => {
    const original = { vs: userVirtualService(), dr: userDestinationRule() };
    let vs = original.vs;
    let dr = original.dr;
    for (const state of wholeRollout()) {
      const ids = state.canary ? [state.stable, state.canary] : [];
      dr = withSubsets(dr, [...subsetIds(dr, ctx), ...ids], ctx);
      new DestinationRule(dr as never).validate();
      const named = subsetsInUse(vs, ctx);
      vs = write(vs, state);
      dr = withSubsets(dr, [...ids, ...named], ctx);
      assert.deepEqual(missingSubsets(dr, [...subsetsInUse(vs, ctx)], ctx), []);
      assert.deepEqual(
        httpOf(vs).filter((r) => !r.name?.startsWith('kanari-')),
        httpOf(original.vs),
      );
    }
    assert.deepEqual(vs, original.vs);
    assert.deepEqual(subsetIds(dr, ctx), ['v1', 'v2'], 'kept one apply longer: the last routes named them');
    dr = withSubsets(dr, [...subsetsInUse(vs, ctx)], ctx);
    assert.deepEqual(dr, original.dr);
  });

  it('and its rollback (25% with a cookie route and a mirror, then stable only)', () => {
    const original = userVirtualService();
    const vs = write(original, split(25, { routes: [{ cookie: 'canary', value: 'yes' }], mirror: 10 }));
    assert.deepEqual(write(vs, stableOnly('v1')), original);
  });

  it('leaves a DestinationRule that had no subsets without any once kanari’s are gone', () => {
    const original = userDestinationRule();
    delete (original.spec as { subsets?: unknown }).subsets;
    const drCtx = { rollout: ROLLOUT.name, namespace: ROLLOUT.namespace, service: 'web' };
    const withOurs = withSubsets(original, ['v2', 'v3'], drCtx);
    assert.deepEqual(subsetIds(withOurs, drCtx), ['v2', 'v3']);
    // As the API server keeps it: a field written as undefined is not there.
    assert.deepEqual(JSON.parse(JSON.stringify(withSubsets(withOurs, [], drCtx))), original);
  });

  it('puts the header routes, then the weighted copy, right before the route they copy', () => {
    const http = httpOf(write(userVirtualService(), split(5, { routes: [{ header: 'X-Canary', value: 'yes' }] })));
    assert.deepEqual(
      http.map((r) => r.name ?? '-'),
      ['kanari-web-0-route-0', 'kanari-web-0', 'api', 'legacy', 'static', 'kanari-web-1-route-0', 'kanari-web-1', '-'],
    );
    const [route, copy, user] = http as [
      Route & Record<string, unknown>,
      Route & Record<string, unknown>,
      Route & Record<string, unknown>,
    ];
    for (const field of ['rewrite', 'headers', 'timeout', 'retries']) assert.deepEqual(copy[field], user[field], field);
    assert.deepEqual(copy.match, user.match);
    assert.deepEqual(copy.route, [
      { destination: { host: 'web.shop.svc.cluster.local', port: { number: 80 }, subset: 'kanari-v1' }, weight: 95 },
      { destination: { host: 'web.shop.svc.cluster.local', port: { number: 80 }, subset: 'kanari-v2' }, weight: 5 },
    ]);
    assert.deepEqual(route.match, [
      { uri: { prefix: '/api' }, headers: { 'x-tenant': { exact: 'a' }, 'x-canary': { exact: 'yes' } } },
      { uri: { prefix: '/v1/api' }, headers: { 'x-canary': { exact: 'yes' } } },
    ]);
    assert.deepEqual(
      http[5]!.match,
      [{ headers: { 'x-canary': { exact: 'yes' } } }],
      'a route without a match matches everything',
    );
    assert.deepEqual((http[6]!.route![0] as { headers?: unknown }).headers, {
      response: { set: { 'cache-control': 'no-store' } },
    });
  });

  it('splits only the named routes when the rollout names them', () => {
    const http = httpOf(write(userVirtualService(), split(5), { ...ctx, routes: ['api'] }));
    assert.deepEqual(
      http.map((r) => r.name ?? '-'),
      ['kanari-web-0', 'api', 'legacy', 'static', '-'],
    );
    refused(
      () => splitVirtualService(userVirtualService(), split(5), { ...ctx, routes: ['nope'] }),
      /has no http route named nope/,
    );
    refused(
      () => splitVirtualService(userVirtualService(), split(5), { ...ctx, routes: ['static'] }),
      /route static does not send to Service web/,
    );
  });
});

describe('istio: weights, routes and mirror, both ways', () => {
  it('whole percents sum to 100; hundredths sum to 10000; every step reads back as asked', () => {
    for (let hundredths = 0; hundredths <= 10_000; hundredths += 37) {
      const canary = hundredths / 100;
      const baseline = Math.min(canary, Math.floor(((100 - canary) / 2) * 100) / 100);
      for (const state of [split(canary), split(canary, { baseline: 'v1-baseline', weights: { canary, baseline } })]) {
        const vs = splitVirtualService(userVirtualService(), state, ctx);
        assert.ok(sameTraffic(virtualServiceTraffic(vs, ctx), state), JSON.stringify(state.weights));
        const total = httpOf(vs)[0]!.route!.reduce((a, d) => a + d.weight!, 0);
        const whole = Number.isInteger(canary) && (state.baseline === undefined || Number.isInteger(baseline));
        assert.equal(total, whole ? 100 : 10_000);
      }
    }
  });

  it('matches headers by exact, prefix and regex, and cookies by a regex on the cookie header', () => {
    const routes = [
      { header: 'x-canary', value: 'yes' },
      { header: 'x-group', prefix: 'beta' },
      { header: 'x-build', regex: '4[0-9]' },
      { cookie: 'canary', value: 'always' },
      { cookie: 'id', regex: '[0-9]{3}' },
    ];
    const http = httpOf(write(userVirtualService(), split(5, { routes })));
    assert.deepEqual(
      http.slice(0, 5).map((r) => Object.entries(r.match![1]!.headers!).at(-1)),
      [
        ['x-canary', { exact: 'yes' }],
        ['x-group', { prefix: 'beta' }],
        ['x-build', { regex: '.*(?:4[0-9]).*' }],
        ['cookie', { regex: '^(?:.*;\\s*)?canary=always(?:\\s*;.*)?$' }],
        ['cookie', { regex: '^(?:.*;\\s*)?id=[^;]*(?:[0-9]{3})[^;]*(?:\\s*;.*)?$' }],
      ],
    );
  });

  it('mirrors to the canary’s subset with mirrorPercentage', () => {
    const copy = httpOf(write(userVirtualService(), split(0, { mirror: 12.5 })))[0]!;
    assert.deepEqual(copy.mirror, { host: 'web.shop.svc.cluster.local', port: { number: 80 }, subset: 'kanari-v2' });
    assert.deepEqual(copy.mirrorPercentage, { value: 12.5 });
  });
});

describe('istio: what is refused', () => {
  const hostile = (edit: (http: Route[]) => void) => {
    const vs = splitVirtualService(userVirtualService(), split(25), ctx);
    edit(httpOf(vs));
    return vs;
  };

  it('no route to the Service, a route to it and elsewhere, a route that mirrors already', () => {
    const none = userVirtualService();
    (none.spec as { http: Route[] }).http = httpOf(none).slice(1, 3);
    refused(
      () => splitVirtualService(none, split(5), ctx),
      /VirtualService shop\/web has no http route that sends to Service web/,
    );
    const mixed = userVirtualService();
    httpOf(mixed)[0]!.route!.push({ destination: { host: 'cdn' }, weight: 0 });
    refused(() => splitVirtualService(mixed, split(5), ctx), /route api sends to web and elsewhere/);
    const mirrors = userVirtualService();
    httpOf(mirrors)[0]!.mirror = { host: 'shadow' };
    refused(() => splitVirtualService(mirrors, split(5, { mirror: 5 }), ctx), /route api mirrors already/);
    assert.ok(splitVirtualService(mirrors, split(5), ctx), 'the user’s own mirror is kept when kanari mirrors nothing');
  });

  it('a user’s route named like kanari’s, a header the user already matches on', () => {
    const named = userVirtualService();
    httpOf(named)[0]!.name = 'kanari-web-0';
    refused(() => splitVirtualService(named, stableOnly('v1'), ctx), /route kanari-web-0 is named like kanari's own/);
    refused(() => virtualServiceTraffic(named, ctx), /named like kanari's own/);
    refused(
      () =>
        splitVirtualService(
          userVirtualService(),
          split(5, { routes: [{ header: 'X-Tenant', exact: 'b' } as never] }),
          ctx,
        ),
      /a route needs a header or cookie and a value/,
    );
    refused(
      () => splitVirtualService(userVirtualService(), split(5, { routes: [{ header: 'X-Tenant', value: 'b' }] }), ctx),
      /already matches on the x-tenant header/,
    );
  });

  it('hostile objects read back: each a refusal naming the field', () => {
    refused(
      () =>
        virtualServiceTraffic(
          hostile((h) => delete h[0]!.route),
          ctx,
        ),
      /named like kanari's own but does not send to kanari's subsets/,
    );
    refused(
      () =>
        virtualServiceTraffic(
          hostile((h) => Object.assign(h[0]!.route![0]!, { weight: '3' })),
          ctx,
        ),
      /spec\.http\[0\]\.route\[0\]\.weight: /,
    );
    refused(
      () =>
        virtualServiceTraffic(
          hostile((h) => h.push(...Array.from({ length: 5000 }, () => ({})))),
          ctx,
        ),
      /spec\.http: /,
    );
    refused(
      () =>
        virtualServiceTraffic(
          hostile((h) => (h[0]!.match = [{ headers: { a: { exact: 'b', regex: 'c' } } }])),
          ctx,
        ),
      /spec\.http\[0\]\.match\[0\]\.headers\.a/,
    );
    refused(
      () =>
        virtualServiceTraffic(
          hostile((h) => (h[0]!.route![0]!.weight = 7)),
          ctx,
        ),
      /kanari's routes in VirtualService shop\/web are not as kanari wrote them \(kanari-web-0 and kanari-web-1 send in different weights\)/,
    );
    refused(
      () =>
        virtualServiceTraffic(
          hostile((h) => h.splice(1, 1)),
          ctx,
        ),
      /not as kanari wrote them/,
    );
    for (const spec of [null, { http: 'all' }, { http: [7] }, { http: [{ route: [{}] }] }])
      refused(
        () => virtualServiceTraffic({ ...userVirtualService(), spec } as KubeObject, ctx),
        /VirtualService shop\/web spec/,
      );
    const dr = userDestinationRule();
    (dr.spec as { subsets: unknown[] }).subsets.push({ name: 'kanari-v2', labels: { version: 'mine' } });
    refused(() => withSubsets(dr, ['v2'], ctx), /has a subset named kanari-v2 that kanari did not write/);
    refused(() => withSubsets({ ...dr, spec: { host: 'cdn' } }, ['v2'], ctx), /is for host cdn, not Service web/);
    refused(
      () => withSubsets({ ...dr, spec: { host: 'web', subsets: [{ labels: 3 }] } }, ['v2'], ctx),
      /DestinationRule shop\/web spec\.subsets\[0\]/,
    );
  });
});
