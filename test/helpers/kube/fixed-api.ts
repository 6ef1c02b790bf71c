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
    spec: {
      replicas: ready,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'shop' }] } },
    },
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

const KINDS: [RegExp, string, string][] = [
  [/\/deployments$/, 'apps/v1', 'Deployment'],
  [/\/services\//, 'v1', 'Service'],
  [/\/httproutes\//, 'gateway.networking.k8s.io/v1', 'HTTPRoute'],
  [/\/virtualservices\//, 'networking.istio.io/v1beta1', 'VirtualService'],
  [/\/destinationrules\//, 'networking.istio.io/v1beta1', 'DestinationRule'],
  [/\/ingresses$/, 'networking.k8s.io/v1', 'Ingress'],
];

/** The same objects as manifests to create through an API server: the collection to POST to, and the object. */
export function shopManifests(canaryPercent = 20): [string, Record<string, unknown>][] {
  const out: [string, Record<string, unknown>][] = [];
  for (const [path, o] of Object.entries(shopObjects(canaryPercent))) {
    const [, apiVersion, kind] = KINDS.find(([re]) => re.test(path))!;
    const items = (o as { items?: Record<string, unknown>[] }).items;
    const collection = items ? path : path.slice(0, path.lastIndexOf('/'));
    for (const item of items ?? [o as Record<string, unknown>]) {
      const { status: _status, ...object } = item;
      out.push([collection, { apiVersion, kind, ...object }]);
    }
  }
  return out;
}

/** CRDs serving HTTPRoute and Istio's kinds with open schemas: the exporter reads them, nothing validates them here. */
export function routingCrds(): Record<string, unknown>[] {
  const crd = (group: string, version: string, kind: string, plural: string) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { kind, plural, singular: kind.toLowerCase() },
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  });
  return [
    crd('gateway.networking.k8s.io', 'v1', 'HTTPRoute', 'httproutes'),
    crd('networking.istio.io', 'v1beta1', 'VirtualService', 'virtualservices'),
    crd('networking.istio.io', 'v1beta1', 'DestinationRule', 'destinationrules'),
  ];
}

async function send(method: string, url: string, body: unknown, type = 'application/json'): Promise<void> {
  const res = await fetch(url, { method, headers: { 'content-type': type }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
}

/** Creates namespace `web`, the routing CRDs and rollout `shop`'s objects in an API server, and waits until they serve. */
export async function createShop(api: string, canaryPercent = 20): Promise<void> {
  await send('POST', `${api}/api/v1/namespaces`, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'web' } });
  for (const crd of routingCrds())
    await send('POST', `${api}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, crd);
  for (let i = 0; !(await fetch(`${api}/apis/networking.istio.io/v1beta1`)).ok; i++) {
    if (i > 200) throw new Error('the routing CRDs were not served within 20 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const [collection, object] of shopManifests(canaryPercent)) await send('POST', `${api}${collection}`, object);
}

/** Moves every router's objects to `canaryPercent`, as kanari's routers would (a merge patch of spec and annotations). */
export async function setShopWeights(api: string, canaryPercent: number): Promise<void> {
  for (const [collection, object] of shopManifests(canaryPercent)) {
    if (object['kind'] === 'Deployment' || object['kind'] === 'Service') continue;
    const meta = object['metadata'] as { name: string; annotations?: unknown };
    const patch = { metadata: { annotations: meta.annotations ?? null }, spec: object['spec'] };
    await send('PATCH', `${api}${collection}/${meta.name}`, patch, 'application/merge-patch+json');
  }
}
