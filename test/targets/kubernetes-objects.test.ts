import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Service } from 'kubernetes-models/v1';
import { deploymentFor, endpointOf, portsOf, serviceFor } from '../../src/targets/kubernetes-objects.js';
import { deploymentProgress, versionObjectName } from '../../src/kube/versions.js';
import type { KubeObject } from '../../src/kube/api.js';
import { template, userService } from '../helpers/kube/ingress-fixtures.js';

const owner = { apiVersion: 'kanari.dev/v1alpha1', kind: 'Rollout', name: 'shop', uid: 'u-1' };
const base = { rollout: 'shop', id: 'a1b2c3d4e5', namespace: 'prod', owner };
describe("a version's Deployment and Service", () => {
  it("runs the template with the version's labels added to the user's, owned by the Rollout", () => {
    const d = deploymentFor({ ...base, template, replicas: 3 });
    new Deployment(d as never).validate();
    const selector = { 'kanari.dev/rollout': 'shop', 'kanari.dev/version': 'a1b2c3d4e5' };
    assert.equal(d.metadata.name, 'shop-a1b2c3d4e5');
    assert.deepEqual(d.metadata.labels, { 'app.kubernetes.io/managed-by': 'kanari', ...selector });
    assert.deepEqual(d.metadata.ownerReferences, [{ ...owner, controller: true, blockOwnerDeletion: true }]);
    assert.deepEqual(d.spec.selector, { matchLabels: selector });
    assert.equal(d.spec.replicas, 3);
    assert.deepEqual(d.spec.template.metadata, {
      labels: { app: 'shop', tier: 'web', ...selector },
      annotations: { team: 'checkout' },
    });
    assert.deepEqual((d.spec.template as Record<string, unknown>).spec, template.spec);
  });

  it("copies the user's Service's ports (without node ports) and selects only the version", () => {
    const s = serviceFor({ ...base, ports: portsOf(userService) });
    new Service(s as never).validate();
    assert.deepEqual(s.spec, {
      type: 'ClusterIP',
      selector: { 'kanari.dev/rollout': 'shop', 'kanari.dev/version': 'a1b2c3d4e5' },
      ports: [
        { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
        { name: 'admin', port: 9090, targetPort: 9090 },
      ],
    });
    assert.equal(endpointOf(s.metadata.name, 'prod', portsOf(s)), 'shop-a1b2c3d4e5.prod.svc:80');
  });

  const templates: [string, Record<string, unknown>, RegExp][] = [
    ['metadata that is a list', { ...template, metadata: [] }, /"metadata" must be an object/],
    ['labels that are not strings', { ...template, metadata: { labels: { app: 1 } } }, /"metadata.labels" must map/],
    ['labels that are a string', { ...template, metadata: { labels: 'app=shop' } }, /"metadata.labels" must map/],
    ['no containers', { metadata: {}, spec: { containers: [] } }, /at least one container/],
    ['no spec', { metadata: {} }, /at least one container/],
  ];
  for (const [what, bad, message] of templates)
    it(`refuses a template with ${what}`, () => {
      assert.throws(() => deploymentFor({ ...base, template: bad, replicas: 1 }), message);
    });

  const services: [string, unknown, RegExp][] = [
    ['no spec', undefined, /has no "spec.ports"/],
    ['ports that are not a list', { ports: { http: 80 } }, /has no "spec.ports"/],
    ['a port that is text', { ports: [{ port: '80' }] }, /spec.ports\[0\].port must be a port number \(got "80"\)/],
    ['a port out of range', { ports: [{ port: 70000 }] }, /must be a port number/],
    [
      'a targetPort object',
      { ports: [{ port: 80, targetPort: { x: 1 } }] },
      /targetPort must be a number or a port name/,
    ],
    ['a name that is a number', { ports: [{ port: 80, name: 7 }] }, /spec.ports\[0\].name must be a string/],
  ];
  for (const [what, spec, message] of services)
    it(`refuses a user Service with ${what}`, () => {
      assert.throws(() => portsOf({ ...userService, spec }), message);
    });

  it('refuses names Kubernetes would refuse, saying which', () => {
    assert.throws(() => versionObjectName('1shop', 'v1'), /cannot name a Service/);
    assert.throws(() => versionObjectName('shop', 'x'.repeat(60)), /at most 63/);
    assert.throws(() => versionObjectName('shop', 'V1'), /lowercase/);
    assert.equal(versionObjectName('shop', 'a1b2c3d4e5-baseline'), 'shop-a1b2c3d4e5-baseline');
  });
});

describe("a Deployment's progress, read back", () => {
  const d = (spec: unknown, status: unknown, generation: unknown = 2): KubeObject =>
    ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x', generation }, spec, status }) as KubeObject;
  it('reads replicas, ready pods, whether the spec was seen, and a missed deadline', () => {
    assert.deepEqual(deploymentProgress(d({ replicas: 3 }, { observedGeneration: 2, readyReplicas: 2, replicas: 3 })), {
      wanted: 3,
      ready: 2,
      existing: 3,
      observed: true,
    });
    const stuck = deploymentProgress(
      d(
        {},
        {
          observedGeneration: 1,
          conditions: [
            {
              type: 'Progressing',
              status: 'False',
              reason: 'ProgressDeadlineExceeded',
              message: 'ReplicaSet "x" has timed out progressing.',
            },
          ],
        },
      ),
    );
    assert.deepEqual(stuck, {
      wanted: 1,
      ready: 0,
      existing: 0,
      observed: false,
      stuck: 'ReplicaSet "x" has timed out progressing. (ProgressDeadlineExceeded)',
    });
  });
  it('reads a status in any shape as no progress, never a crash', () => {
    for (const status of [
      null,
      'ready',
      [],
      { readyReplicas: '3', observedGeneration: -1, conditions: 'x' },
      { conditions: [null, 7] },
    ])
      assert.deepEqual(deploymentProgress(d({ replicas: 2 }, status, 'two')), {
        wanted: 2,
        ready: 0,
        existing: 0,
        observed: true,
      });
  });
});
