/**
 * The weight exporter reads what kanari's own routers write: the user's objects are
 * passed through each router's pure writer (src/traffic/kubernetes/) at 20% canary with a
 * header route, and the exporter's reader, with its own code, finds the same split and
 * the names each proxy would count it under.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../src/kube/api.js';
import { ROLLOUT_LABEL, VERSION_LABEL } from '../../src/kube/versions.js';
import type { TrafficState } from '../../src/rollout/types.js';
import { countedClusters, VERSION_HEADER } from '../../src/traffic/kubernetes/gatewayapi/counted.js';
import { splitRoute } from '../../src/traffic/kubernetes/gatewayapi/route.js';
import { splitVirtualService } from '../../src/traffic/kubernetes/istio/virtual-service.js';
import { withSubsets } from '../../src/traffic/kubernetes/istio/destination-rule.js';
import { canaryIngressFor } from '../../src/traffic/kubernetes/nginx/canary-ingress.js';
import { CANARY, shopObjects, STABLE } from '../helpers/kube/fixed-api.js';
import { WeightReader, type ExportedRouting } from '../helpers/kube/weight-reader.js';

const NS = '/namespaces/web';
const HTTPROUTE = `/apis/gateway.networking.k8s.io/v1${NS}/httproutes/shop`;
const VS = `/apis/networking.istio.io/v1beta1${NS}/virtualservices/shop`;
const DR = `/apis/networking.istio.io/v1beta1${NS}/destinationrules/shop`;
const INGRESSES = `/apis/networking.k8s.io/v1${NS}/ingresses`;
const state: TrafficState = {
  stable: 'aaaaaaaaaa',
  canary: 'bbbbbbbbbb',
  weights: { canary: 20, baseline: 0 },
  routes: [{ header: 'x-canary', value: '1' }],
  mirror: 0,
};
const ctx = { rollout: 'shop', namespace: 'web', service: { name: 'shop', port: 80 } };
const meta = (name: string) => ({ apiVersion: 'v1', kind: 'X', metadata: { name, namespace: 'web' } });

/** The user's objects before kanari: each router's object sends everyone to Service `shop`. */
function userObjects(): Record<string, unknown> {
  const objects = shopObjects(20);
  objects[HTTPROUTE] = {
    ...meta('shop'),
    spec: { parentRefs: [{ name: 'eg' }], rules: [{ backendRefs: [{ name: 'shop', port: 80 }] }] },
  };
  objects[VS] = {
    ...meta('shop'),
    spec: { hosts: ['shop'], http: [{ name: 'main', route: [{ destination: { host: 'shop' } }] }] },
  };
  objects[DR] = { ...meta('shop'), spec: { host: 'shop' } };
  const main = {
    ...meta('shop'),
    spec: {
      rules: [
        {
          host: 'shop.example',
          http: {
            paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'shop', port: { number: 80 } } } }],
          },
        },
      ],
    },
  };
  objects[INGRESSES] = { items: [main] };
  return objects;
}

async function rows(objects: Record<string, unknown>, routing: ExportedRouting, headers: Record<string, string> = {}) {
  const paths = await new WeightReader(async (p) => objects[p], 'web', routing).paths(headers);
  return paths.map((p) => [p.deployment, Math.round(p.share * 1000) / 1000, p.service]);
}

describe("the exporter reads what kanari's routers write", () => {
  it('gatewayapi: the weights rule before the user’s, the header rule after all, winning by its one more header match', async () => {
    const objects = userObjects();
    objects[HTTPROUTE] = splitRoute(objects[HTTPROUTE] as KubeObject, state, ctx);
    const routing = { gatewayapi: { httpRoute: 'shop' } };
    assert.deepEqual(await rows(objects, routing), [
      [STABLE, 0.8, STABLE],
      [CANARY, 0.2, CANARY],
    ]);
    assert.deepEqual(await rows(objects, routing, { 'x-canary': '1' }), [[CANARY, 1, CANARY]]);
    // The router puts no filter on a backendRef, so Envoy Gateway counts both versions under the rule's one cluster.
    const paths = await new WeightReader(async (p) => objects[p], 'web', routing).paths();
    assert.equal(new Set(paths.map((p) => p.envoyCluster)).size, 1);
  });

  it('gatewayapi counted by Envoy Gateway: each version’s backendRef a cluster of its own, where counted.ts says', async () => {
    const objects = userObjects();
    const counting = { ...ctx, versionHeader: VERSION_HEADER };
    objects[HTTPROUTE] = splitRoute(objects[HTTPROUTE] as KubeObject, state, counting);
    const paths = await new WeightReader(async (p) => objects[p], 'web', { gatewayapi: { httpRoute: 'shop' } }).paths();
    const clusters = countedClusters(objects[HTTPROUTE] as KubeObject, counting);
    assert.deepEqual(
      paths.map((p) => [p.deployment, p.envoyCluster]),
      [
        [STABLE, clusters.stable[0]],
        [CANARY, clusters.canary[0]],
      ],
    );
    assert.notEqual(clusters.stable[0], clusters.canary[0]);
  });

  it('istio: route weights to the subsets it adds to the DestinationRule', async () => {
    const objects = userObjects();
    objects[VS] = splitVirtualService(objects[VS] as KubeObject, state, {
      rollout: 'shop',
      namespace: 'web',
      service: 'shop',
    });
    objects[DR] = withSubsets(objects[DR] as KubeObject, ['aaaaaaaaaa', 'bbbbbbbbbb'], {
      rollout: 'shop',
      namespace: 'web',
      service: 'shop',
    });
    const routing = { istio: { virtualService: 'shop', destinationRule: 'shop' } };
    assert.deepEqual(await rows(objects, routing), [
      [STABLE, 0.8, 'shop'],
      [CANARY, 0.2, 'shop'],
    ]);
    assert.deepEqual(await rows(objects, routing, { 'x-canary': '1' }), [[CANARY, 1, 'shop']]);
  });

  it("nginx: the canary Ingress's 20% to the canary's Service, the rest to the user's Service pinned to stable", async () => {
    const objects = userObjects();
    // What the nginx router does to the user's Service (router.ts pinService): kanari's two labels added to its selector.
    const service = objects[`/api/v1${NS}/services/shop`] as { spec: { selector: Record<string, string> } };
    Object.assign(service.spec.selector, { [ROLLOUT_LABEL]: 'shop', [VERSION_LABEL]: 'aaaaaaaaaa' });
    const main = (objects[INGRESSES] as { items: KubeObject[] }).items[0]!;
    const canary = canaryIngressFor({
      ingress: main,
      service: 'shop',
      canaryService: CANARY,
      rollout: 'shop',
      prefix: 'nginx.ingress.kubernetes.io',
      state,
    });
    objects[INGRESSES] = { items: [main, canary] };
    const routing = { nginx: { ingress: 'shop' } };
    // ingress-nginx labels requests by the Ingress backend: stable's `service` is the user's Service, not shop-<id>.
    assert.deepEqual(await rows(objects, routing), [
      [STABLE, 0.8, 'shop'],
      [CANARY, 0.2, CANARY],
    ]);
    // Unpinned, the user's Service would select every version's pods (they keep the template's labels).
    service.spec.selector = { app: 'shop' };
    assert.deepEqual(
      (await rows(objects, routing)).map((r) => r[1]),
      [0.6, 0.2, 0.2],
    );
    assert.deepEqual(await rows(objects, routing, { 'x-canary': '1' }), [[CANARY, 1, CANARY]]);
  });
});
