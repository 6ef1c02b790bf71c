/**
 * The HTTPRoute an HTTPRoute and a traffic state make, and the state read back from it:
 * the user's rules and filters survive a whole rollout unchanged, every route written
 * validates against the Gateway API schema, what is read back is what was asked
 * (`sameTraffic`), and hostile routes are refused with the field named, never a crash.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import type { KubeObject } from '../../../src/kube/api.js';
import { sameTraffic, TrafficRefused } from '../../../src/rollout/seams/traffic.js';
import type { TrafficState } from '../../../src/rollout/types.js';
import { httpRouteFeatures, requireFeatures } from '../../../src/traffic/kubernetes/gatewayapi/crd.js';
import { routeTraffic, splitRoute } from '../../../src/traffic/kubernetes/gatewayapi/route.js';
import { covers } from '../../../src/traffic/kubernetes/owned-rules.js';
import {
  httpRouteCrd,
  ROLLOUT,
  SERVICE,
  splitAt,
  stableOnly,
  userHttpRoute,
  wholeRollout,
} from '../../helpers/kube/mesh-objects.js';

const ctx = { rollout: ROLLOUT.name, namespace: ROLLOUT.namespace, service: SERVICE };
type Rule = {
  name?: string;
  matches?: { headers?: { name: string; value: string; type: string }[] }[];
  filters?: unknown[];
  backendRefs?: { name: string; weight?: number; port?: number }[];
};
const rulesOf = (route: KubeObject) => (route.spec as { rules: Rule[] }).rules;
const split = splitAt;

/** Writes `state` over `route` and checks what every written route must be. */
function write(route: KubeObject, state: TrafficState): KubeObject {
  const next = splitRoute(route, state, ctx);
  new HTTPRoute(next as never).validate();
  const observed = routeTraffic(next, ctx);
  if (observed)
    assert.ok(sameTraffic(observed, state), `read back ${JSON.stringify(observed)} for ${JSON.stringify(state)}`);
  else assert.equal(state.canary, undefined);
  return next;
}

describe('gatewayapi: the user’s route survives', () => {
  it('a whole rollout (5 → 25 → 50 → 100 → promoted) leaves the route deep-equal to the user’s', () => {
    const original = userHttpRoute();
    let route = original;
    for (const state of wholeRollout()) {
      route = write(route, state);
      const user = rulesOf(route).filter((r) => !r.name?.startsWith('kanari-'));
      assert.deepEqual(user, rulesOf(original), 'the user’s rules, as written, at every step');
    }
    assert.deepEqual(route, original);
  });

  it('and its rollback (25% with a header route and a mirror, then stable only) too', () => {
    const original = userHttpRoute();
    let route = write(original, split(25, { routes: [{ header: 'x-canary', value: 'yes' }], mirror: 10 }));
    route = write(route, stableOnly('v1'));
    assert.deepEqual(route, original);
  });

  it('puts each copy right before the rule it copies, with its matches, filters and timeouts', () => {
    const rules = rulesOf(write(userHttpRoute(), split(5)));
    assert.deepEqual(
      rules.map((r) => r.name ?? '-'),
      ['kanari-web-0', 'api', '-', 'static', 'kanari-web-1', '-'],
    );
    const [copy, user] = [rules[0]!, rules[1]!];
    assert.deepEqual(copy.matches, user.matches);
    assert.deepEqual(copy.filters, user.filters);
    assert.deepEqual((copy as { timeouts?: unknown }).timeouts, { request: '10s' });
    assert.deepEqual(copy.backendRefs, [
      { group: '', kind: 'Service', name: 'web-v1', port: 80, weight: 19 },
      { group: '', kind: 'Service', name: 'web-v2', port: 80, weight: 1 },
    ]);
    assert.deepEqual(
      rules[4]!.backendRefs!.map((b) => b.port),
      [8080, 8080],
      'the port the user’s rule sends to',
    );
  });
});

describe('gatewayapi: weights, routes and mirror, both ways', () => {
  it('writes weights as proportions and reads every 0.01 step back as asked, with and without a baseline', () => {
    const base = userHttpRoute();
    for (let hundredths = 0; hundredths <= 10_000; hundredths += 37) {
      const canary = hundredths / 100;
      const state = split(canary);
      assert.ok(sameTraffic(routeTraffic(splitRoute(base, state, ctx), ctx), state), `canary ${canary}`);
      const baseline = Math.min(canary, Math.floor(((100 - canary) / 2) * 100) / 100);
      const withBaseline = split(canary, { baseline: 'v1-baseline', weights: { canary, baseline } });
      assert.ok(
        sameTraffic(routeTraffic(splitRoute(base, withBaseline, ctx), ctx), withBaseline),
        `baseline at ${canary}`,
      );
    }
    const rules = rulesOf(
      splitRoute(base, split(25, { baseline: 'v1-baseline', weights: { canary: 25, baseline: 25 } }), ctx),
    );
    assert.deepEqual(
      rules[0]!.backendRefs!.map((b) => [b.name, b.weight]),
      [
        ['web-v1', 2],
        ['web-v2', 1],
        ['web-v1-baseline', 1],
      ],
    );
  });

  it('keeps a backend at weight 0 (no traffic) so a 0% canary and a 100% one are told apart', () => {
    for (const canary of [0, 100]) {
      const rules = rulesOf(write(userHttpRoute(), split(canary)));
      assert.deepEqual(
        rules[0]!.backendRefs!.map((b) => b.weight),
        canary === 0 ? [1, 0] : [0, 1],
      );
    }
  });

  it('adds each header and cookie route, in order, to every match of the copied rule, after all the user’s rules', () => {
    const routes = [
      { header: 'x-canary', value: 'yes' },
      { header: 'x-group', prefix: 'beta.' },
      { header: 'x-build', regex: '^4[0-9]+$' },
      { cookie: 'canary', value: 'always' },
      { cookie: 'id', regex: '[0-9]{3}' },
    ];
    const rules = rulesOf(write(userHttpRoute(), split(5, { routes })));
    // The weighted copies keep their places whatever the routes (Envoy Gateway names clusters by them).
    assert.deepEqual(
      rules.slice(0, 6).map((r) => r.name ?? '-'),
      ['kanari-web-0', 'api', '-', 'static', 'kanari-web-1', '-'],
    );
    assert.deepEqual(
      rules.slice(6).map((r) => r.name),
      [0, 1].flatMap((k) => routes.map((_, n) => `kanari-web-${k}-route-${n}`)),
    );
    const api = rules[6]!;
    assert.deepEqual(api.matches![0]!.headers, [
      { type: 'Exact', name: 'x-tenant', value: 'a' },
      { type: 'Exact', name: 'x-canary', value: 'yes' },
    ]);
    assert.deepEqual(api.backendRefs, [{ group: '', kind: 'Service', name: 'web-v2', port: 80, weight: 1 }]);
    assert.deepEqual(api.filters, rulesOf(userHttpRoute())[0]!.filters, 'the user’s filters still apply');
    const catchAll = rules.find((r) => r.name === 'kanari-web-1-route-3')!;
    assert.deepEqual(catchAll.matches, [
      {
        path: { type: 'PathPrefix', value: '/' },
        headers: [{ type: 'RegularExpression', name: 'Cookie', value: '^(?:.*;\\s*)?canary=always(?:\\s*;.*)?$' }],
      },
    ]);
  });

  it('two Rollouts’ header routes in one HTTPRoute: each reads its own back, and writing again changes nothing', () => {
    const cdn = { rollout: 'cdn', namespace: ROLLOUT.namespace, service: { name: 'cdn', port: 80 } };
    const routes = [{ header: 'x-canary', value: 'yes' }];
    const web25 = split(25, { routes });
    const cdn10 = split(10, { stable: 'c1', canary: 'c2', routes });
    for (const [first, second] of [
      [ctx, cdn],
      [cdn, ctx],
    ] as const) {
      const stateOf = (c: typeof ctx) => (c === ctx ? web25 : cdn10);
      let route = splitRoute(userHttpRoute(), stateOf(first), first);
      route = splitRoute(route, stateOf(second), second);
      new HTTPRoute(route as never).validate();
      for (const c of [first, second]) {
        assert.ok(sameTraffic(routeTraffic(route, c)!, stateOf(c)), `${c.rollout} reads its own state back`);
        assert.ok(covers(route, splitRoute(route, stateOf(c), c)), `${c.rollout} writing again changes nothing`);
      }
    }
  });

  it('writes regular expressions that mean the same matched whole (Envoy) or searched in (kanari’s router)', () => {
    const cases: [TrafficState['routes'][number], string, boolean][] = [
      [{ cookie: 'canary', value: 'always' }, 'a=1; canary=always; b=2', true],
      [{ cookie: 'canary', value: 'always' }, 'canary=always', true],
      [{ cookie: 'canary', value: 'always' }, 'xcanary=always', false],
      [{ cookie: 'canary', value: 'always' }, 'canary=alwaysx', false],
      [{ cookie: 'group', prefix: 'q.a' }, 'group=q.a-team;x=1', true],
      [{ cookie: 'group', prefix: 'q.a' }, 'group=qxa', false],
      [{ cookie: 'id', regex: '[0-9]{3}' }, 'id=a123b', true],
      [{ cookie: 'id', regex: '[0-9]{3}' }, 'id=12; x=345', false],
      [{ header: 'x-group', prefix: 'beta.' }, 'beta.1', true],
      [{ header: 'x-group', prefix: 'beta.' }, 'betax1', false],
      [{ header: 'x-build', regex: '4[0-9]' }, 'v41-rc', true],
    ];
    for (const [route, value, matches] of cases) {
      const rule = rulesOf(splitRoute(userHttpRoute(), split(5, { routes: [route] }), ctx)).find((r) =>
        r.name?.endsWith('-route-0'),
      )!;
      const re = rule.matches![0]!.headers!.at(-1)!.value;
      assert.equal(new RegExp(`^(?:${re})$`).test(value), matches, `${re} matched whole against ${value}`);
      assert.equal(new RegExp(re).test(value), matches, `${re} searched in ${value}`);
    }
  });

  it('mirrors by percent, or by a fraction in hundredths of a percent', () => {
    const whole = rulesOf(write(userHttpRoute(), split(0, { mirror: 10 })))[0]!;
    assert.deepEqual(whole.filters!.at(-1), {
      type: 'RequestMirror',
      requestMirror: { backendRef: { group: '', kind: 'Service', name: 'web-v2', port: 80 }, percent: 10 },
    });
    const part = rulesOf(write(userHttpRoute(), split(0, { mirror: 2.5 })))[0]!;
    assert.deepEqual((part.filters!.at(-1) as { requestMirror: { fraction: unknown } }).requestMirror.fraction, {
      numerator: 250,
      denominator: 10_000,
    });
  });

  it('takes fields the API server filled in from its defaults as kanari’s rules as written', () => {
    const state = split(25, { routes: [{ header: 'x-canary', value: 'yes' }], mirror: 10 });
    const route = splitRoute(userHttpRoute(), state, ctx);
    const [weighted, routed] = [rulesOf(route)[0], rulesOf(route).find((r) => r.name?.endsWith('-route-0'))];
    const mirror = weighted!.filters!.at(-1) as { requestMirror: { backendRef: object } };
    Object.assign(mirror.requestMirror.backendRef, { weight: 1 });
    Object.assign(routed!.matches![0]!, { method: undefined, queryParams: [] });
    assert.ok(sameTraffic(routeTraffic(route, ctx), state));
  });

  it('reads a route without kanari’s rules as none of its own, and one in another namespace by its Service’s', () => {
    assert.equal(routeTraffic(userHttpRoute(), ctx), undefined);
    const elsewhere = userHttpRoute();
    elsewhere.metadata.namespace = 'gateways';
    for (const rule of rulesOf(elsewhere))
      for (const ref of rule.backendRefs ?? []) Object.assign(ref, { namespace: 'shop' });
    const rules = rulesOf(write(elsewhere, split(5)));
    assert.equal(rules[0]!.name, 'kanari-web-0');
    assert.equal((rules[0]!.backendRefs![0] as { namespace?: string }).namespace, 'shop');
  });
});

describe('gatewayapi: what is refused', () => {
  const refused = (fn: () => unknown, message: RegExp) =>
    assert.throws(fn, (err) => {
      assert.ok(err instanceof TrafficRefused, `a TrafficRefused, got ${String(err)}`);
      assert.match(err.message, message);
      return true;
    });
  const hostile = (edit: (rules: Rule[]) => void) => {
    const route = splitRoute(userHttpRoute(), split(25), ctx);
    edit(rulesOf(route));
    return route;
  };

  it('a route with no rule to the Service, and a rule that sends to it and elsewhere', () => {
    const none = userHttpRoute();
    (none.spec as { rules: Rule[] }).rules = rulesOf(none).slice(1, 3);
    refused(() => splitRoute(none, split(5), ctx), /HTTPRoute shop\/web has no rule that sends to Service web/);
    const mixed = userHttpRoute();
    rulesOf(mixed)[0]!.backendRefs!.push({ name: 'cdn', port: 80 });
    refused(() => splitRoute(mixed, split(5), ctx), /spec\.rules\[0\] sends to web and to other backends/);
  });

  it('a user’s rule named like kanari’s: never removed, refused by name', () => {
    const route = userHttpRoute();
    rulesOf(route)[0]!.name = 'kanari-web-0';
    refused(() => splitRoute(route, split(5), ctx), /rule kanari-web-0 is named like kanari's own but sends to web/);
    refused(() => splitRoute(route, stableOnly('v1'), ctx), /named like kanari's own/);
    refused(() => routeTraffic(route, ctx), /named like kanari's own/);
  });

  it('hostile routes read back: each a refusal naming the field', () => {
    refused(
      () =>
        routeTraffic(
          hostile((r) => delete r[0]!.backendRefs),
          ctx,
        ),
      /rule kanari-web-0 must send to 1–3 version Services \(it has 0/,
    );
    refused(
      () =>
        routeTraffic(
          hostile((r) => Object.assign(r[0]!.backendRefs![0]!, { weight: '3' })),
          ctx,
        ),
      /spec\.rules\[0\]\.backendRefs\[0\]\.weight: /,
    );
    refused(
      () =>
        routeTraffic(
          hostile((r) => r.push(...Array.from({ length: 5000 }, () => ({})))),
          ctx,
        ),
      /spec\.rules: /,
    );
    refused(
      () =>
        routeTraffic(
          hostile((r) => (r[0]!.matches = Array.from({ length: 100_000 }, () => ({})))),
          ctx,
        ),
      /spec\.rules\[0\]\.matches: /,
    );
    refused(
      () =>
        routeTraffic(
          hostile((r) => (r[0]!.backendRefs![1]!.name = 'cdn')),
          ctx,
        ),
      /rule kanari-web-0 is named like kanari's own but sends to cdn/,
    );
    refused(
      () =>
        routeTraffic(
          hostile((r) => r.splice(0, 1)),
          ctx,
        ),
      /not as kanari wrote them/,
    );
    for (const spec of [null, 'rules', { rules: 'all' }, { rules: [null] }, { rules: [{ name: 7 }] }])
      refused(() => routeTraffic({ ...userHttpRoute(), spec } as KubeObject, ctx), /HTTPRoute shop\/web spec/);
  });

  it('kanari’s rules edited by someone else: reported, not taken as what is served', () => {
    refused(
      () =>
        routeTraffic(
          hostile((r) => (r[0]!.backendRefs![0]!.weight = 7)),
          ctx,
        ),
      /kanari's rules in HTTPRoute shop\/web are not as kanari wrote them \(kanari-web-0 and kanari-web-1 send in different weights\)/,
    );
    refused(
      () =>
        routeTraffic(
          hostile((r) => (r[0]!.filters = [])),
          ctx,
        ),
      /kanari's rules in HTTPRoute shop\/web are not as kanari wrote them \(kanari-web-0 differs\)/,
    );
    refused(
      () =>
        routeTraffic(
          hostile((r) => r.splice(1, 1)),
          ctx,
        ),
      /not as kanari wrote them/,
    );
    const moved = splitRoute(userHttpRoute(), split(25), ctx);
    rulesOf(moved).reverse();
    refused(() => routeTraffic(moved, ctx), /not as kanari wrote them/);
  });

  it('a route on a header the user’s rule already matches on, and more rules than an HTTPRoute holds', () => {
    refused(
      () => splitRoute(userHttpRoute(), split(5, { routes: [{ header: 'X-Tenant', value: 'b' }] }), ctx),
      /already matches on the X-Tenant header/,
    );
    const routes = Array.from({ length: 6 }, (_, i) => ({ header: `x-r${i}`, value: 'y' }));
    refused(
      () => splitRoute(userHttpRoute(), split(5, { routes }), ctx),
      /would need 18 rules with kanari's, more than the 16/,
    );
  });

  it('states a route cannot say: per-instance sizes, a baseline without a canary, a bad Service name', () => {
    refused(() => splitRoute(userHttpRoute(), split(5, { sizes: { v1: 2 } }), ctx), /rolling update/);
    refused(
      () =>
        splitRoute(userHttpRoute(), { ...stableOnly('v1'), baseline: 'b', weights: { canary: 0, baseline: 5 } }, ctx),
      /baseline without a canary/,
    );
    refused(
      () => splitRoute(userHttpRoute(), split(5, { canary: 'V2' }), ctx),
      /"web-V2", which is not a valid Service name/,
    );
  });

  it('a CRD without rule names or percent mirroring, naming the Gateway API version needed', () => {
    const old = httpRouteFeatures(httpRouteCrd({ ruleName: false, mirrorPercent: false, bundle: 'v1.1.0' }));
    refused(() => requireFeatures(old, false), /CRD \(v1\.1\.0 standard\) has no rule name.*v1\.4 or later/);
    const v13 = httpRouteFeatures(httpRouteCrd({ ruleName: false, mirrorPercent: true, bundle: 'v1.3.0' }));
    assert.equal(v13.mirrorPercent, true);
    const noMirror = httpRouteFeatures(httpRouteCrd({ ruleName: true, mirrorPercent: false }));
    requireFeatures(noMirror, false);
    refused(() => requireFeatures(noMirror, true), /cannot mirror a percentage of requests: install Gateway API v1\.3/);
    const nothing = httpRouteFeatures({
      apiVersion: 'x',
      kind: 'y',
      metadata: { name: 'z' },
      spec: { versions: 'v1' },
    });
    assert.deepEqual(nothing, { ruleName: false, mirrorPercent: false, bundle: 'of unknown version' });
  });
});
