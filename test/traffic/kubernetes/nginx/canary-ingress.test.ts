import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import type { KubeObject } from '../../../../src/kube/api.js';
import { userIngress } from '../../../helpers/kube/ingress-fixtures.js';
import {
  canaryAnnotations,
  canaryIngressFor,
  canaryOfIngress,
  unsupportedByNginx,
} from '../../../../src/traffic/kubernetes/nginx/canary-ingress.js';
import { TrafficRefused } from '../../../../src/rollout/seams/traffic.js';
import type { TrafficState } from '../../../../src/rollout/types.js';

const P = 'nginx.ingress.kubernetes.io';

const split = (canary: number, routes: TrafficState['routes'] = []): TrafficState => ({
  stable: 'v1',
  canary: 'v2',
  weights: { canary, baseline: 0 },
  routes,
  mirror: 0,
});

const build = (state: TrafficState, ingress = userIngress) =>
  canaryIngressFor({ ingress, service: 'web', canaryService: 'shop-v2', rollout: 'shop', prefix: P, state });

describe('the canary Ingress kanari writes', () => {
  it('copies class, TLS and the hosts of paths to the Service, sending them to the canary Service', () => {
    const canary = build(split(5));
    new Ingress(canary as never).validate();
    assert.equal(canary.metadata.name, 'shop-kanari-canary');
    assert.equal(canary.metadata.namespace, 'prod');
    assert.deepEqual(canary.metadata.labels, {
      'app.kubernetes.io/managed-by': 'kanari',
      'kanari.dev/rollout': 'shop',
    });
    const spec = canary.spec as { ingressClassName: string; tls: unknown; rules: unknown };
    assert.equal(spec.ingressClassName, 'nginx');
    assert.deepEqual(spec.tls, [{ hosts: ['shop.example.com'], secretName: 'shop-tls' }]);
    // The api and admin paths are not the Service's: a canary for them would split another app.
    assert.deepEqual(spec.rules, [
      {
        host: 'shop.example.com',
        http: {
          paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'shop-v2', port: { number: 80 } } } }],
        },
      },
      {
        http: {
          paths: [
            { path: '/web', pathType: 'Prefix', backend: { service: { name: 'shop-v2', port: { name: 'http' } } } },
          ],
        },
      },
    ]);
    // Only the class of the user's annotations: ingress-nginx takes the rest from the main Ingress.
    assert.deepEqual(canary.metadata.annotations, {
      'kubernetes.io/ingress.class': 'nginx',
      [`${P}/canary`]: 'true',
      [`${P}/canary-weight`]: '5',
    });
  });

  it('writes a fractional weight in hundredths of a percent, and routes as by-header and by-cookie', () => {
    assert.deepEqual(canaryAnnotations(split(2.5), P), {
      [`${P}/canary`]: 'true',
      [`${P}/canary-weight`]: '250',
      [`${P}/canary-weight-total`]: '10000',
    });
    assert.deepEqual(
      canaryAnnotations(
        split(0, [
          { header: 'x-canary', value: 'yes' },
          { cookie: 'beta', value: 'always' },
        ]),
        'ex.io',
      ),
      {
        'ex.io/canary': 'true',
        'ex.io/canary-weight': '0',
        'ex.io/canary-by-header': 'x-canary',
        'ex.io/canary-by-header-value': 'yes',
        'ex.io/canary-by-cookie': 'beta',
      },
    );
    assert.equal(
      canaryAnnotations(split(0, [{ header: 'x-user', prefix: 'qa.' }]), P)[`${P}/canary-by-header-pattern`],
      '^qa\\.',
    );
  });

  it('refuses a user Ingress with no path to the Service', () => {
    const other = structuredClone(userIngress);
    (other.spec as { rules: unknown[] }).rules.splice(0, 1);
    (other.spec as { rules: unknown[] }).rules.pop();
    assert.throws(
      () => build(split(5), other),
      (e) => e instanceof TrafficRefused && /no rule whose path sends to Service web/.test(e.message),
    );
  });
});

describe('what ingress-nginx cannot do', () => {
  const cases: [string, TrafficState, RegExp | undefined][] = [
    ['a weight', split(12.5), undefined],
    [
      'a header and an always cookie',
      split(5, [
        { header: 'h', regex: 'a|b' },
        { cookie: 'c', value: 'always' },
      ]),
      undefined,
    ],
    ['a baseline', { ...split(10), baseline: 'v1-baseline', weights: { canary: 10, baseline: 10 } }, /baseline/],
    ['mirroring', { ...split(0), mirror: 10 }, /mirror/],
    [
      'two headers',
      split(0, [
        { header: 'a', value: '1' },
        { header: 'b', value: '2' },
      ]),
      /one header/,
    ],
    ['a cookie with another value', split(0, [{ cookie: 'c', value: 'yes' }]), /"always"/],
    ['a cookie prefix', split(0, [{ cookie: 'c', prefix: 'a' }]), /"always"/],
  ];
  for (const [what, state, refused] of cases)
    it(`${refused ? 'refuses' : 'does'} ${what}`, () => {
      const problem = unsupportedByNginx(state);
      if (refused) assert.match(problem ?? '', refused);
      else assert.equal(problem, undefined);
    });
});

describe('a canary Ingress read back', () => {
  const states: TrafficState[] = [
    split(0),
    split(5),
    split(33.33),
    split(100),
    split(10, [{ header: 'x-canary', value: 'always' }]),
    split(10, [{ header: 'x-user', regex: '^(alice|bob)$' }]),
    split(10, [{ header: 'x-user', prefix: 'qa.team-1' }]),
    split(0, [{ cookie: 'beta', value: 'always' }]),
  ];
  for (const state of states)
    it(`is the state it was written for: ${JSON.stringify(state.weights.canary)} ${JSON.stringify(state.routes)}`, () => {
      const read = canaryOfIngress(build(state), P, 'shop');
      assert.deepEqual(read, { canary: state.canary, weights: state.weights, routes: state.routes });
    });

  const written = build(split(5));
  const edited = (
    edit: (o: KubeObject & { spec: { rules: { http: { paths: { backend: unknown }[] } }[] } }) => void,
  ) => {
    const o = structuredClone(written) as KubeObject & {
      spec: { rules: { http: { paths: { backend: unknown }[] } }[] };
    };
    edit(o);
    return o;
  };
  const hostile: [string, KubeObject, RegExp][] = [
    ['without canary: "true"', edited((o) => delete o.metadata.annotations![`${P}/canary`]), /not a canary Ingress/],
    [
      'a weight that is not a number',
      edited((o) => (o.metadata.annotations![`${P}/canary-weight`] = 'ten')),
      /whole number/,
    ],
    ['an exponent weight', edited((o) => (o.metadata.annotations![`${P}/canary-weight`] = '1e3')), /whole number/],
    ['a negative weight', edited((o) => (o.metadata.annotations![`${P}/canary-weight`] = '-5')), /whole number/],
    ['a weight above the total', edited((o) => (o.metadata.annotations![`${P}/canary-weight`] = '150')), /not a share/],
    ['a zero total', edited((o) => (o.metadata.annotations![`${P}/canary-weight-total`] = '0')), /not a share/],
    [
      'an annotation that is not a string',
      edited((o) => ((o.metadata.annotations as Record<string, unknown>)[`${P}/canary-weight`] = 5)),
      /not a string/,
    ],
    [
      'paths to two Services',
      edited((o) => (o.spec.rules[0]!.http.paths[0]!.backend = { service: { name: 'shop-v3', port: { number: 80 } } })),
      /one Service shop-<version>/,
    ],
    [
      "a Service that is not the rollout's",
      edited((o) => {
        for (const r of o.spec.rules)
          for (const p of r.http.paths) p.backend = { service: { name: 'other', port: { number: 1 } } };
      }),
      /"other"/,
    ],
    ['no rules', edited((o) => ((o as { spec: unknown }).spec = { rules: 'none' })), /it sends to none/],
    ['no spec at all', edited((o) => delete (o as { spec?: unknown }).spec), /it sends to none/],
  ];
  for (const [what, object, message] of hostile)
    it(`refuses one with ${what}`, () => {
      assert.throws(
        () => canaryOfIngress(object, P, 'shop'),
        (e) => e instanceof TrafficRefused && message.test(e.message),
      );
    });
});
