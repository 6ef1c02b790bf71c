/**
 * The built-in `sequential` template of a Rollout counting from Envoy Gateway: each version
 * named by the clusters of its backendRefs in kanari's weighted copies, read from the
 * HTTPRoute as the user wrote it; a route that is missing or of the wrong shape refuses the
 * Rollout with a reason, never a crash. Other presets read no route.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kubernetesRolloutDocument } from '../../src/config/schemas/kubernetes.js';
import type { KubeClient, KubeObject, ObjectRef } from '../../src/kube/api.js';
import { kubernetesWorld } from '../../src/operator/compose.js';
import { releaseTemplates } from '../../src/operator/templates.js';
import { userHttpRoute } from '../helpers/kube/mesh-objects.js';

const rollout = (preset: string, routing: object = { gatewayAPI: { httpRoute: 'web' } }) =>
  kubernetesRolloutDocument.parse({
    apiVersion: 'kanari.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'web', namespace: 'shop' },
    spec: {
      workloadRef: { name: 'web' },
      service: { name: 'web' },
      trafficRouting: routing,
      metrics: { prometheus: { address: 'http://prometheus:9090', preset } },
      strategy: { canary: { steps: [{ setWeight: 50 }, { analysis: { templates: ['sequential'] } }] } },
    },
  });

/** A client that answers GETs from `objects` by name, and counts them. */
function clientWith(objects: Record<string, unknown>): KubeClient & { gets: number } {
  const client = {
    gets: 0,
    get: async (ref: ObjectRef) => {
      client.gets++;
      return objects[ref.name] as KubeObject | undefined;
    },
  };
  return client as unknown as KubeClient & { gets: number };
}

const resolve = (client: KubeClient, preset: string) =>
  releaseTemplates(
    {} as KubeObject,
    rollout(preset),
    { ...kubernetesWorld(client), findTemplate: async () => undefined },
    false,
    () => {},
  );

describe('the sequential template counting from Envoy Gateway', () => {
  it('names each version by its clusters in kanari’s weighted copies, summed', async () => {
    const found = await resolve(clientWith({ web: userHttpRoute() }), 'envoy-gateway');
    assert.ok('templates' in found, JSON.stringify(found));
    const source = found.templates['sequential']!.sequential!.source as { prometheus: Record<string, unknown> };
    assert.equal(source.prometheus['versionLabel'], 'envoy_cluster_name');
    assert.deepEqual(source.prometheus['versions'], {
      stable: ['httproute/shop/web/rule/0/backend/0', 'httproute/shop/web/rule/4/backend/0'],
      canary: ['httproute/shop/web/rule/0/backend/1', 'httproute/shop/web/rule/4/backend/1'],
      baseline: ['httproute/shop/web/rule/0/backend/2', 'httproute/shop/web/rule/4/backend/2'],
    });
  });

  it('refuses the Rollout when the route is missing or of the wrong shape', async () => {
    const missing = await resolve(clientWith({}), 'envoy-gateway');
    assert.deepEqual(missing, {
      problem: 'HTTPRoute shop/web does not exist, so where Envoy Gateway counts the versions is not known',
    });
    const hostile = userHttpRoute();
    (hostile.spec as { rules: unknown }).rules = [{ backendRefs: 'web' }];
    const bad = await resolve(clientWith({ web: hostile }), 'envoy-gateway');
    assert.ok('problem' in bad);
    assert.match(bad.problem, /spec\.rules\[0\]\.backendRefs/);
  });

  it('reads no route for another preset', async () => {
    const client = clientWith({});
    const found = await resolve(client, 'istio');
    assert.ok('templates' in found);
    assert.equal(client.gets, 0);
  });
});
