/**
 * A small fixed JSON server standing in for the Kubernetes API in the weight exporter's
 * tests: GET of a path answers the object stored there (a list path answers its items),
 * 404 otherwise; a test edits the objects between reads as kanari's routers would.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FixedApi {
  url: string;
  objects: Map<string, unknown>;
  /** Answers the next GETs of `path` with this status and raw body. */
  fail(path: string, status: number, body: string): void;
  close(): Promise<void>;
}

export async function startFixedApi(objects: Record<string, unknown>): Promise<FixedApi> {
  const map = new Map(Object.entries(objects));
  const failures = new Map<string, { status: number; body: string }>();
  const server = http.createServer((req, res) => {
    const path = req.url ?? '';
    const failure = failures.get(path);
    if (failure) return void res.writeHead(failure.status).end(failure.body);
    const found = map.get(path);
    if (found === undefined)
      return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"kind":"Status","code":404}');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(found));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    objects: map,
    fail: (path, status, body) => failures.set(path, { status, body }),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const NS = '/namespaces/web';
export const STABLE = 'shop-aaaaaaaaaa';
export const CANARY = 'shop-bbbbbbbbbb';

function deployment(name: string, labels: Record<string, string>, ready: number) {
  return {
    metadata: { name, namespace: 'web' },
    spec: { replicas: ready, selector: { matchLabels: labels }, template: { metadata: { labels } } },
    status: { readyReplicas: ready, availableReplicas: ready },
  };
}
const version = (id: string) => ({ app: 'shop', 'kanari.dev/rollout': 'shop', 'kanari.dev/version': id });
const service = (name: string, selector: Record<string, string>) => ({
  metadata: { name },
  spec: { selector, ports: [{ port: 80 }] },
});
const filters = (id: string) => [
  { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'kanari-version', value: id }] } },
];

/**
 * The objects of rollout `shop` in namespace `web` as kanari's routers would leave them at
 * 20% canary: stable has 3 ready pods, canary 1; a header route sends `x-canary: 1` to the
 * canary; each router's own objects beside the user's.
 */
export function shopObjects(canaryPercent = 20): Record<string, unknown> {
  const stablePercent = 100 - canaryPercent;
  return {
    [`/apis/apps/v1${NS}/deployments`]: {
      items: [
        deployment('shop', { app: 'shop' }, 0), // the workloadRef, scaled to zero
        deployment(STABLE, version('aaaaaaaaaa'), 3),
        deployment(CANARY, version('bbbbbbbbbb'), 1),
      ],
    },
    [`/api/v1${NS}/services/shop`]: service('shop', { app: 'shop' }),
    [`/api/v1${NS}/services/${STABLE}`]: service(STABLE, {
      'kanari.dev/rollout': 'shop',
      'kanari.dev/version': 'aaaaaaaaaa',
    }),
    [`/api/v1${NS}/services/${CANARY}`]: service(CANARY, {
      'kanari.dev/rollout': 'shop',
      'kanari.dev/version': 'bbbbbbbbbb',
    }),
    [`/apis/gateway.networking.k8s.io/v1${NS}/httproutes/shop`]: {
      metadata: { name: 'shop' },
      spec: {
        parentRefs: [{ name: 'eg' }],
        rules: [
          {
            name: 'kanari-shop-header',
            matches: [{ headers: [{ name: 'X-Canary', value: '1' }] }],
            backendRefs: [{ name: CANARY, port: 80, filters: filters('bbbbbbbbbb') }],
          },
          {
            name: 'kanari-shop',
            matches: [{ path: { type: 'PathPrefix', value: '/' } }],
            backendRefs: [
              { name: STABLE, port: 80, weight: stablePercent, filters: filters('aaaaaaaaaa') },
              { name: CANARY, port: 80, weight: canaryPercent, filters: filters('bbbbbbbbbb') },
            ],
          },
          { name: 'users-own', backendRefs: [{ name: 'shop', port: 80 }] },
        ],
      },
    },
    [`/apis/networking.istio.io/v1beta1${NS}/virtualservices/shop`]: {
      metadata: { name: 'shop' },
      spec: {
        hosts: ['shop'],
        http: [
          {
            name: 'kanari-header',
            match: [{ headers: { 'x-canary': { exact: '1' } } }],
            route: [{ destination: { host: 'shop', subset: 'bbbbbbbbbb' } }],
          },
          {
            name: 'primary',
            route: [
              { destination: { host: 'shop.web.svc.cluster.local', subset: 'aaaaaaaaaa' }, weight: stablePercent },
              { destination: { host: 'shop', subset: 'bbbbbbbbbb' }, weight: canaryPercent },
            ],
          },
        ],
      },
    },
    [`/apis/networking.istio.io/v1beta1${NS}/destinationrules/shop`]: {
      metadata: { name: 'shop' },
      spec: {
        host: 'shop',
        subsets: [
          { name: 'aaaaaaaaaa', labels: { 'kanari.dev/version': 'aaaaaaaaaa' } },
          { name: 'bbbbbbbbbb', labels: { 'kanari.dev/version': 'bbbbbbbbbb' } },
        ],
      },
    },
    [`/apis/networking.k8s.io/v1${NS}/ingresses`]: {
      items: [
        ingress('shop', STABLE, {}),
        ingress('shop-canary', CANARY, {
          'nginx.ingress.kubernetes.io/canary': 'true',
          'nginx.ingress.kubernetes.io/canary-weight': String(canaryPercent),
          'nginx.ingress.kubernetes.io/canary-by-header': 'X-Canary',
          'nginx.ingress.kubernetes.io/canary-by-cookie': 'canary',
        }),
        ingress('elsewhere', 'other', { 'nginx.ingress.kubernetes.io/canary': 'true' }, 'other.example'),
      ],
    },
  };
}

function ingress(name: string, backend: string, annotations: Record<string, string>, host = 'shop.example') {
  return {
    metadata: { name, annotations },
    spec: {
      rules: [
        {
          host,
          http: {
            paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: backend, port: { number: 80 } } } }],
          },
        },
      ],
    },
  };
}
