import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../src/kube/api.js';
import { installManifests, OPERATOR } from '../../src/kube/manifests.js';
import { validateObject } from '../helpers/kube/models.js';

const kindsOf = (objects: KubeObject[]) =>
  objects.map((o) => `${o.kind} ${o.metadata.namespace ?? '-'}/${o.metadata.name}`);
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
const rulesOf = (o: KubeObject | undefined) => (o as unknown as { rules: Rule[] }).rules;
/** Every (group/resource, verb) a role grants, sorted: the table docs/kubernetes/manifests.md explains. */
const grants = (rules: Rule[]) =>
  rules
    .flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g || 'core'}/${res}: ${r.verbs.join(' ')}`)))
    .sort();

describe('kanari k8s manifests', () => {
  const cluster = installManifests({ version: '0.1.0' });

  it('holds the CRDs, a namespace, the operator account, cluster RBAC and the operator, in apply order', () => {
    assert.deepEqual(kindsOf(cluster), [
      'CustomResourceDefinition -/rollouts.kanari.dev',
      'CustomResourceDefinition -/analysistemplates.kanari.dev',
      'Namespace -/kanari-system',
      'ServiceAccount kanari-system/kanari-operator',
      'ClusterRole -/kanari-operator',
      'ClusterRoleBinding -/kanari-operator',
      'Role kanari-system/kanari-operator-leader',
      'RoleBinding kanari-system/kanari-operator-leader',
      'Secret kanari-system/kanari-api-tokens',
      'Secret kanari-system/kanari-api-sessions',
      'Role kanari-system/kanari-operator-api-tokens',
      'RoleBinding kanari-system/kanari-operator-api-tokens',
      'ClusterRole -/kanari-operator-crds',
      'ClusterRoleBinding -/kanari-operator-crds',
      'ClusterRole -/kanari-aggregate-to-view',
      'ClusterRole -/kanari-aggregate-to-edit',
      'Deployment kanari-system/kanari-operator',
    ]);
  });

  it("grants people what kanari's commands need through Kubernetes' own view, edit and admin roles", () => {
    const aggregated = (name: string) => cluster.find((o) => o.metadata.name === name)!;
    const view = aggregated('kanari-aggregate-to-view');
    assert.equal(view.metadata.labels?.['rbac.authorization.k8s.io/aggregate-to-view'], 'true');
    assert.deepEqual(grants(rulesOf(view)), [
      'kanari.dev/analysistemplates: get list watch',
      'kanari.dev/rollouts: get list watch',
    ]);
    const edit = aggregated('kanari-aggregate-to-edit');
    for (const into of ['edit', 'admin'])
      assert.equal(edit.metadata.labels?.[`rbac.authorization.k8s.io/aggregate-to-${into}`], 'true');
    // The commands patch the annotation; nothing grants the status subresource, which is the operator's.
    assert.match(
      grants(rulesOf(edit)).find((g) => g.startsWith('kanari.dev/rollouts:'))!,
      / patch /,
    );
    assert.ok(!grants(rulesOf(edit)).some((g) => g.includes('rollouts/status')));
  });

  it('is valid, object by object, by the official schemas', () => {
    for (const o of [...cluster, ...installManifests({ version: '0.1.0', namespace: 'shop', image: 'r.example/k:1' })])
      validateObject(o);
  });

  it('grants each verb the operator uses and no other', () => {
    assert.deepEqual(grants(rulesOf(cluster.find((o) => o.kind === 'ClusterRole' && o.metadata.name === OPERATOR))), [
      'apps/deployments: get list watch create update patch delete',
      'core/configmaps: get create update',
      'core/events: create patch',
      'core/services: get list watch create update patch delete',
      'events.k8s.io/events: create patch',
      'gateway.networking.k8s.io/httproutes: get list watch update patch',
      'kanari.dev/analysistemplates: get list watch',
      'kanari.dev/rollouts/finalizers: update',
      'kanari.dev/rollouts/status: get update patch',
      'kanari.dev/rollouts: get list watch update patch',
      'networking.istio.io/destinationrules: get list watch update patch',
      'networking.istio.io/virtualservices: get list watch update patch',
      'networking.k8s.io/ingresses: get list watch create update patch delete',
    ]);
    assert.deepEqual(
      grants(rulesOf(cluster.find((o) => o.metadata.name === `${OPERATOR}-leader` && o.kind === 'Role'))),
      ['coordination.k8s.io/leases: get create update'],
    );
    // The API's tokens and sessions: the two Secrets the manifests make, by name; no right to create or read any other.
    const tokens = cluster.find((o) => o.metadata.name === `${OPERATOR}-api-tokens` && o.kind === 'Role');
    assert.deepEqual(grants(rulesOf(tokens)), ['core/secrets: get update']);
    assert.deepEqual((rulesOf(tokens)[0] as Rule & { resourceNames?: string[] }).resourceNames, [
      'kanari-api-tokens',
      'kanari-api-sessions',
    ]);
    assert.deepEqual(
      grants(rulesOf(cluster.find((o) => o.metadata.name === `${OPERATOR}-crds` && o.kind === 'ClusterRole'))),
      [
        'apiextensions.k8s.io/customresourcedefinitions: get',
        'authentication.k8s.io/tokenreviews: create',
        'authorization.k8s.io/subjectaccessreviews: create',
      ],
    );
    for (const o of cluster.filter((o) => o.kind.endsWith('Role')))
      for (const r of rulesOf(o))
        assert.ok(!r.verbs.includes('*') && !r.resources.includes('*'), `${o.metadata.name} grants a wildcard`);
  });

  it('with --namespace, grants the same in that namespace only, and runs and watches there', () => {
    const scoped = installManifests({ version: '0.1.0', namespace: 'shop' });
    assert.deepEqual(kindsOf(scoped), [
      'CustomResourceDefinition -/rollouts.kanari.dev',
      'CustomResourceDefinition -/analysistemplates.kanari.dev',
      'ServiceAccount shop/kanari-operator',
      'Role shop/kanari-operator',
      'RoleBinding shop/kanari-operator',
      'Role shop/kanari-operator-leader',
      'RoleBinding shop/kanari-operator-leader',
      'Secret shop/kanari-api-tokens',
      'Secret shop/kanari-api-sessions',
      'Role shop/kanari-operator-api-tokens',
      'RoleBinding shop/kanari-operator-api-tokens',
      'ClusterRole -/kanari-operator-crds',
      'ClusterRoleBinding -/kanari-operator-crds',
      'ClusterRole -/kanari-aggregate-to-view',
      'ClusterRole -/kanari-aggregate-to-edit',
      'Deployment shop/kanari-operator',
    ]);
    assert.deepEqual(
      grants(rulesOf(scoped.find((o) => o.kind === 'Role' && o.metadata.name === OPERATOR))),
      grants(rulesOf(cluster.find((o) => o.kind === 'ClusterRole' && o.metadata.name === OPERATOR))),
    );
    const container = containerOf(scoped.at(-1)!);
    assert.deepEqual(container.args, ['operator', '--namespace', 'shop']);
  });

  it("runs two replicas of the image asked for (default a placeholder tagged with kanari's version), probed, with requests", () => {
    const deployment = cluster.at(-1)!;
    assert.equal((deployment.spec as { replicas: number }).replicas, 2);
    const c = containerOf(deployment);
    assert.equal(c.image, 'ghcr.io/kanari-dev/kanari:0.1.0');
    assert.deepEqual(c.args, ['operator']);
    assert.ok(c.livenessProbe && c.readinessProbe);
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory);
    assert.equal(
      containerOf(installManifests({ version: '0.1.0', image: 'r.example/k:1' }).at(-1)!).image,
      'r.example/k:1',
    );
  });

  it('labels everything it installs as kanari-managed', () => {
    for (const o of cluster) assert.equal(o.metadata.labels?.['app.kubernetes.io/managed-by'], 'kanari', o.kind);
  });
});

function containerOf(deployment: KubeObject) {
  return (
    deployment.spec as {
      template: {
        spec: {
          containers: {
            image: string;
            args: string[];
            livenessProbe?: unknown;
            readinessProbe?: unknown;
            resources: { requests: Record<string, string> };
          }[];
        };
      };
    }
  ).template.spec.containers[0]!;
}
