/**
 * A user's own HTTPRoute, VirtualService and DestinationRule for rollout `web` (Service
 * `web` in namespace `shop`), with the filters, rewrites and unrelated rules kanari must
 * leave exactly as written; and the HTTPRoute CRD with or without the newer fields.
 */
import type { KubeObject } from '../../../src/kube/api.js';
import type { TrafficState } from '../../../src/rollout/types.js';

export const ROLLOUT = { name: 'web', namespace: 'shop' };
export const SERVICE = { name: 'web', port: 80 };

/** The user's Service `web`: it selects the app's pods by their template label, and kanari's version pods keep that label. */
export function userService(): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'shop', resourceVersion: '1' },
    spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  };
}

export function userHttpRoute(): KubeObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'web', namespace: 'shop', resourceVersion: '1' },
    spec: {
      parentRefs: [{ name: 'public', namespace: 'gateways' }],
      hostnames: ['shop.example.com'],
      rules: [
        {
          name: 'api',
          matches: [
            { path: { type: 'PathPrefix', value: '/api' }, headers: [{ type: 'Exact', name: 'x-tenant', value: 'a' }] },
          ],
          filters: [
            { type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x-from', value: 'gateway' }] } },
            { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } },
          ],
          backendRefs: [{ name: 'web', port: 80 }],
          timeouts: { request: '10s' },
        },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/legacy' } }],
          filters: [
            {
              type: 'RequestRedirect',
              requestRedirect: { statusCode: 301, path: { type: 'ReplaceFullPath', replaceFullPath: '/' } },
            },
          ],
        },
        {
          name: 'static',
          matches: [{ path: { type: 'PathPrefix', value: '/static' } }],
          backendRefs: [{ name: 'cdn', port: 80 }],
        },
        {
          filters: [
            {
              type: 'ResponseHeaderModifier',
              responseHeaderModifier: { set: [{ name: 'cache-control', value: 'no-store' }] },
            },
          ],
          backendRefs: [{ name: 'web', port: 8080, weight: 1 }],
        },
      ],
    },
  };
}

/** Objects of any shape below this point are kept as written. */
const open = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
const list = (items: object, extra: object = {}) => ({ type: 'array', items, ...extra });

function crd(group: string, kind: string, plural: string, version: string, spec: object, annotations = {}): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}`, annotations },
    spec: {
      group,
      scope: 'Namespaced',
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', properties: { spec } } },
        },
      ],
    },
  };
}

/**
 * The HTTPRoute CRD, cut down to the parts kanari reads, with the real one's defaults
 * (backendRef group, kind and weight) and its atomic `rules` list; with or without the
 * newer rule `name` and RequestMirror `percent`/`fraction`, which an older CRD prunes.
 */
export function httpRouteCrd(o: { ruleName: boolean; mirrorPercent: boolean; bundle?: string }): KubeObject {
  const backendRef = {
    type: 'object',
    properties: {
      group: { type: 'string', default: '' },
      kind: { type: 'string', default: 'Service' },
      name: { type: 'string' },
      namespace: { type: 'string' },
      port: { type: 'integer' },
      weight: { type: 'integer', default: 1, minimum: 0, maximum: 1_000_000 },
    },
  };
  const { weight: _weight, ...mirrorRef } = backendRef.properties;
  const requestMirror = {
    type: 'object',
    properties: {
      backendRef: { type: 'object', properties: mirrorRef },
      ...(o.mirrorPercent ? { percent: { type: 'integer' }, fraction: open } : {}),
    },
  };
  const rule = {
    type: 'object',
    properties: {
      ...(o.ruleName ? { name: { type: 'string' } } : {}),
      matches: list(open),
      filters: list({ ...open, properties: { type: { type: 'string' }, requestMirror } }),
      backendRefs: list(backendRef),
      timeouts: open,
    },
  };
  const spec = {
    type: 'object',
    properties: { parentRefs: list(open), hostnames: list({ type: 'string' }), rules: list(rule, { maxItems: 16 }) },
  };
  return crd('gateway.networking.k8s.io', 'HTTPRoute', 'httproutes', 'v1', spec, {
    'gateway.networking.k8s.io/bundle-version': o.bundle ?? 'v1.4.0',
    'gateway.networking.k8s.io/channel': 'standard',
  });
}

/** Istio's VirtualService and DestinationRule CRDs, cut down: `http` and `subsets` are atomic lists. */
export function istioCrds(): KubeObject[] {
  const group = 'networking.istio.io';
  const virtualService = {
    type: 'object',
    properties: { hosts: list({ type: 'string' }), gateways: list({ type: 'string' }), http: list(open) },
  };
  const subset = {
    type: 'object',
    properties: {
      name: { type: 'string' },
      labels: { type: 'object', additionalProperties: { type: 'string' } },
      trafficPolicy: open,
    },
  };
  const destinationRule = {
    type: 'object',
    properties: { host: { type: 'string' }, trafficPolicy: open, subsets: list(subset) },
  };
  return [
    crd(group, 'VirtualService', 'virtualservices', 'v1beta1', virtualService),
    crd(group, 'DestinationRule', 'destinationrules', 'v1beta1', destinationRule),
  ];
}

/** A rollout from v1 to v2: 5, 25, 50 and 100 percent, then v2 alone (promoted). */
export function wholeRollout(): TrafficState[] {
  return [stableOnly('v1'), ...[0, 5, 25, 50, 100].map((c) => splitAt(c)), stableOnly('v2')];
}

/** v1 → v2 at `canary` percent, with whatever else a test adds. */
export function splitAt(canary: number, more: Partial<TrafficState> = {}): TrafficState {
  return { stable: 'v1', canary: 'v2', weights: { canary, baseline: 0 }, routes: [], mirror: 0, ...more };
}

export function stableOnly(stable: string): TrafficState {
  return { stable, weights: { canary: 0, baseline: 0 }, routes: [], mirror: 0 };
}

export function userVirtualService(): KubeObject {
  return {
    apiVersion: 'networking.istio.io/v1beta1',
    kind: 'VirtualService',
    metadata: { name: 'web', namespace: 'shop', resourceVersion: '1' },
    spec: {
      hosts: ['web', 'shop.example.com'],
      gateways: ['mesh', 'gateways/public'],
      http: [
        {
          name: 'api',
          match: [{ uri: { prefix: '/api' }, headers: { 'x-tenant': { exact: 'a' } } }, { uri: { prefix: '/v1/api' } }],
          rewrite: { uri: '/v2' },
          headers: { request: { add: { 'x-from': 'mesh' } } },
          timeout: '10s',
          retries: { attempts: 3, perTryTimeout: '2s' },
          route: [{ destination: { host: 'web.shop.svc.cluster.local', port: { number: 80 } } }],
        },
        { name: 'legacy', match: [{ uri: { prefix: '/legacy' } }], redirect: { uri: '/' } },
        { name: 'static', match: [{ uri: { prefix: '/static' } }], route: [{ destination: { host: 'cdn' } }] },
        {
          route: [
            {
              destination: { host: 'web', port: { number: 8080 } },
              headers: { response: { set: { 'cache-control': 'no-store' } } },
            },
          ],
        },
      ],
    },
  };
}

export function userDestinationRule(): KubeObject {
  return {
    apiVersion: 'networking.istio.io/v1beta1',
    kind: 'DestinationRule',
    metadata: { name: 'web', namespace: 'shop', resourceVersion: '1' },
    spec: {
      host: 'web',
      trafficPolicy: { connectionPool: { tcp: { maxConnections: 100 } } },
      subsets: [{ name: 'v1', labels: { version: 'v1' } }],
    },
  };
}
