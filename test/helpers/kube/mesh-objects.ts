/**
 * A user's own HTTPRoute, VirtualService and DestinationRule for rollout `web` (Service
 * `web` in namespace `shop`), with the filters, rewrites and unrelated rules kanari must
 * leave exactly as written; and the HTTPRoute CRD with or without the newer fields.
 */
import type { KubeObject } from '../../../src/kube/api.js';
import type { TrafficState } from '../../../src/rollout/types.js';

export const ROLLOUT = { name: 'web', namespace: 'shop' };
export const SERVICE = { name: 'web', port: 80 };

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

/** The HTTPRoute CRD as Gateway API ships it, cut down to the parts kanari reads. */
export function httpRouteCrd(o: { ruleName: boolean; mirrorPercent: boolean; bundle?: string }): KubeObject {
  const requestMirror = {
    type: 'object',
    properties: {
      backendRef: { type: 'object' },
      ...(o.mirrorPercent ? { percent: { type: 'integer' }, fraction: { type: 'object' } } : {}),
    },
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: 'httproutes.gateway.networking.k8s.io',
      annotations: {
        'gateway.networking.k8s.io/bundle-version': o.bundle ?? 'v1.4.0',
        'gateway.networking.k8s.io/channel': 'standard',
      },
    },
    spec: {
      group: 'gateway.networking.k8s.io',
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: {
                  type: 'object',
                  properties: {
                    rules: {
                      type: 'array',
                      items: {
                        type: 'object',
                        properties: {
                          ...(o.ruleName ? { name: { type: 'string' } } : {}),
                          filters: { type: 'array', items: { type: 'object', properties: { requestMirror } } },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      ],
    },
  };
}

/** A rollout from v1 to v2: 5, 25, 50 and 100 percent, then v2 alone (promoted). */
export function wholeRollout(): TrafficState[] {
  const at = (canary: number): TrafficState => ({
    stable: 'v1',
    canary: 'v2',
    weights: { canary, baseline: 0 },
    routes: [],
    mirror: 0,
  });
  return [stableOnly('v1'), at(0), at(5), at(25), at(50), at(100), stableOnly('v2')];
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
