import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KUBERNETES } from '../../../src/config/capabilities.js';
import type { KubeClient } from '../../../src/kube/api.js';
import { GatewayApiTraffic } from '../../../src/traffic/kubernetes/gatewayapi/router.js';
import { IstioTraffic } from '../../../src/traffic/kubernetes/istio/router.js';
import { NginxTraffic } from '../../../src/traffic/kubernetes/nginx/router.js';
import { ReplicasTraffic } from '../../../src/traffic/kubernetes/replicas/router.js';

/** Never called: building a router reads nothing. */
const client = {} as KubeClient;
const base = { client, rollout: { name: 'shop', namespace: 'prod' }, service: { name: 'shop', port: 80 } };

/**
 * `kanari lint` checks a file against capabilities.ts's table, and the engine runs the
 * routers themselves: the two must say the same, or lint passes what the router refuses
 * (or refuses what it does) and the judge's unit check reasons about the wrong router.
 */
describe('what each Kubernetes router declares', () => {
  const routers = {
    gatewayapi: new GatewayApiTraffic({ ...base, routing: { httpRoute: 'shop' } }),
    istio: new IstioTraffic({
      ...base,
      routing: { virtualService: { name: 'shop' }, destinationRule: { name: 'shop' } },
    }),
    nginx: new NginxTraffic({ ...base, routing: { ingress: 'shop', annotationPrefix: 'nginx.ingress.kubernetes.io' } }),
    replicas: new ReplicasTraffic({ ...base, routing: {}, replicas: 4 }),
  };
  for (const [name, router] of Object.entries(routers))
    it(`${name}: the same name, capabilities and assignment as the table lint reads`, () => {
      const table = KUBERNETES[name as keyof typeof KUBERNETES];
      assert.equal(router.name, table.name);
      assert.deepEqual([...router.supports].sort(), [...table.supports].sort());
      assert.equal(router.assignment, table.assignment);
    });
  it('covers every router the table has', () =>
    assert.deepEqual(Object.keys(routers).sort(), Object.keys(KUBERNETES).sort()));
});
