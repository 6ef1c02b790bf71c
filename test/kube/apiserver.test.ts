// The test API server's core: discovery, create/read/list, writes at a resourceVersion,
// patches, the status subresource, the generation rule, deletion, and hostile requests.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startKubeApiServer, type TestKubeApi } from '../helpers/kube/apiserver.js';
import { configMap, deployment, kube, kubeAt } from '../helpers/kube/request.js';

let api: TestKubeApi;
let k: ReturnType<typeof kubeAt>;
const DEPLOYMENTS = '/apis/apps/v1/namespaces/default/deployments';
const CM = '/api/v1/namespaces/default/configmaps';

before(async () => {
  api = await startKubeApiServer({ deploymentReadyDelayMs: 20 });
  k = kubeAt(api.url);
});
after(() => api.close());

describe('discovery', () => {
  it('lists the built-in kinds with their scope, verbs and status subresources', async () => {
    const core = await k.get('/api/v1');
    const names = core.body.resources.map((r: any) => r.name);
    assert.ok(names.includes('services') && names.includes('services/status') && names.includes('configmaps'));
    assert.equal(core.body.resources.find((r: any) => r.name === 'namespaces').namespaced, false);
    const apps = await k.get('/apis/apps/v1');
    const deploy = apps.body.resources.find((r: any) => r.name === 'deployments');
    assert.deepEqual([deploy.kind, deploy.namespaced], ['Deployment', true]);
    assert.ok(deploy.verbs.includes('watch'));
    assert.ok(apps.body.resources.some((r: any) => r.name === 'deployments/status'));
    const groups = (await k.get('/apis')).body.groups.map((g: any) => g.name);
    for (const g of ['apps', 'coordination.k8s.io', 'networking.k8s.io', 'apiextensions.k8s.io', 'events.k8s.io'])
      assert.ok(groups.includes(g), g);
    assert.equal((await k.get('/apis/gateway.networking.k8s.io/v1')).status, 404);
  });
});

describe('create, read, list', () => {
  it('creates with uid, resourceVersion, generation and creationTimestamp, and refuses a second create', async () => {
    const made = await k.post(DEPLOYMENTS, deployment('shop'));
    assert.equal(made.status, 201);
    const meta = made.body.metadata;
    assert.match(meta.uid, /^[0-9a-f-]{36}$/);
    assert.match(meta.resourceVersion, /^[0-9]+$/);
    assert.equal(meta.generation, 1);
    assert.ok(Date.parse(meta.creationTimestamp) > 0);
    assert.equal(made.body.spec.revisionHistoryLimit, 10, 'defaulted');
    const again = await k.post(DEPLOYMENTS, deployment('shop'));
    assert.equal(again.status, 409);
    assert.deepEqual(
      {
        kind: again.body.kind,
        apiVersion: again.body.apiVersion,
        status: again.body.status,
        reason: again.body.reason,
        code: again.body.code,
      },
      { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'AlreadyExists', code: 409 },
    );
    assert.equal(again.body.message, 'deployments.apps "shop" already exists');
  });

  it('answers 404 NotFound with a Status for an object that does not exist', async () => {
    const missing = await k.get(`${DEPLOYMENTS}/nope`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.reason, 'NotFound');
    assert.equal(missing.body.message, 'deployments.apps "nope" not found');
  });

  it('lists by label selector, in one namespace or all, with the list resourceVersion; items carry no kind, as typed lists do', async () => {
    for (const [name, tier] of [
      ['a', 'web'],
      ['b', 'web'],
      ['c', 'db'],
    ] as const) {
      await k.post(CM, configMap(`sel-${name}`, undefined, { tier }));
    }
    const web = await k.get(`${CM}?labelSelector=tier%3Dweb`);
    assert.deepEqual(
      web.body.items.map((i: any) => i.metadata.name),
      ['sel-a', 'sel-b'],
    );
    assert.equal(web.body.kind, 'ConfigMapList');
    assert.equal(web.body.items[0].kind, undefined);
    assert.equal(web.body.metadata.resourceVersion, api.resourceVersion());
    const notWeb = await k.get('/api/v1/configmaps?labelSelector=tier!%3Dweb,tier');
    assert.deepEqual(
      notWeb.body.items.map((i: any) => i.metadata.name),
      ['sel-c'],
    );
    const inSet = await k.get('/api/v1/configmaps?labelSelector=tier%20in%20(db,cache)');
    assert.deepEqual(
      inSet.body.items.map((i: any) => i.metadata.name),
      ['sel-c'],
    );
  });

  it('refuses objects in a namespace that does not exist', async () => {
    const res = await k.post('/api/v1/namespaces/ghost/configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'x' },
    });
    assert.equal(res.status, 404);
    assert.equal(res.body.message, 'namespaces "ghost" not found');
  });
});

describe('writes at a resourceVersion', () => {
  it('refuses a PUT at a stale resourceVersion with 409 Conflict, worded as the real server', async () => {
    const path = `${CM}/stale`;
    const made = (await k.post(CM, configMap('stale'))).body;
    assert.equal((await k.put(path, { ...made, data: { writer: 'first' } })).status, 200);
    const res = await k.put(path, { ...made, data: { writer: 'second' } });
    assert.equal(res.status, 409);
    assert.deepEqual(
      {
        kind: res.body.kind,
        apiVersion: res.body.apiVersion,
        status: res.body.status,
        reason: res.body.reason,
        code: res.body.code,
      },
      { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Conflict', code: 409 },
    );
    assert.equal(
      res.body.message,
      'Operation cannot be fulfilled on configmaps "stale": the object has been modified; please apply your changes to the latest version and try again',
    );
    assert.deepEqual(api.get('v1', 'ConfigMap', 'default', 'stale')!.data, { writer: 'first' });
    const unconditional = await k.put(path, { ...made, metadata: { name: 'stale' }, data: { writer: 'third' } });
    assert.equal(unconditional.status, 200, 'a PUT without a resourceVersion is unconditional');
  });

  it('takes a merge patch and a JSON patch, and a JSON patch whose test fails changes nothing (422)', async () => {
    await k.post(DEPLOYMENTS, deployment('patched'));
    const merged = await k.merge(`${DEPLOYMENTS}/patched`, { metadata: { labels: { extra: 'yes', app: null } } });
    assert.deepEqual(merged.body.metadata.labels, { extra: 'yes' });
    const json = await k.jsonPatch(`${DEPLOYMENTS}/patched`, [{ op: 'replace', path: '/spec/replicas', value: 4 }]);
    assert.equal(json.body.spec.replicas, 4);
    const failed = await k.jsonPatch(`${DEPLOYMENTS}/patched`, [
      { op: 'test', path: '/spec/replicas', value: 1 },
      { op: 'replace', path: '/spec/replicas', value: 9 },
    ]);
    assert.equal(failed.status, 422);
    assert.equal(api.get('apps/v1', 'Deployment', 'default', 'patched')!.spec!.replicas, 4);
    const stale = await k.merge(`${DEPLOYMENTS}/patched`, {
      metadata: { resourceVersion: '1' },
      spec: { replicas: 7 },
    });
    assert.equal(stale.status, 409, 'a resourceVersion in a merge patch is a precondition');
  });
});

describe('strategic merge patch', () => {
  it('merges containers by name, deletes with $patch: delete, ignores order hints, refuses other directives', async () => {
    const made = deployment('strategic');
    made.spec.template.spec.containers.push({ name: 'sidecar', image: 'envoy:1' });
    await k.post(DEPLOYMENTS, made);
    const patch = {
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'app' }, { name: 'sidecar' }],
            containers: [
              { name: 'app', image: 'app:2' },
              { name: 'sidecar', $patch: 'delete' },
            ],
          },
        },
      },
    };
    const res = await kube(
      api.url,
      'PATCH',
      `${DEPLOYMENTS}/strategic`,
      patch,
      'application/strategic-merge-patch+json',
    );
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.spec.template.spec.containers, [{ name: 'app', image: 'app:2' }]);
    const unknown = await kube(
      api.url,
      'PATCH',
      `${DEPLOYMENTS}/strategic`,
      { spec: { $deleteFromPrimitiveList: {} } },
      'application/strategic-merge-patch+json',
    );
    assert.equal(unknown.status, 400);
  });
});

describe('status subresource and generation', () => {
  it('ignores status on the main resource and everything but status on /status', async () => {
    const path = '/api/v1/namespaces/default/services/split';
    const service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'split' },
      spec: { selector: { app: 'a' }, ports: [{ port: 80 }] },
      status: { x: 1 },
    };
    const made = (await k.post('/api/v1/namespaces/default/services', service)).body;
    assert.equal(made.status, undefined, 'status is not taken on create');
    const viaMain = {
      ...made,
      spec: { ...made.spec, selector: { app: 'b' } },
      status: { loadBalancer: { ingress: [{ ip: '10.0.0.1' }] } },
    };
    const main = (await k.put(path, viaMain)).body;
    assert.deepEqual(main.spec.selector, { app: 'b' });
    assert.equal(main.status, undefined);
    const viaStatus = {
      ...main,
      spec: { ...main.spec, selector: { app: 'c' } },
      status: { loadBalancer: { ingress: [{ ip: '10.0.0.2' }] } },
    };
    const status = (await k.put(`${path}/status`, viaStatus)).body;
    assert.equal(status.status.loadBalancer.ingress[0].ip, '10.0.0.2');
    assert.deepEqual(status.spec.selector, { app: 'b' });
    const merged = (await k.merge(`${path}/status`, { spec: { selector: { app: 'd' } }, status: { loadBalancer: {} } }))
      .body;
    assert.deepEqual(
      [merged.spec.selector, merged.status.loadBalancer],
      [{ app: 'b' }, { ingress: [{ ip: '10.0.0.2' }] }],
    );
  });

  it('bumps generation on spec changes only, not on metadata or status', async () => {
    const made = (await k.post(DEPLOYMENTS, deployment('gen'))).body;
    assert.equal(made.metadata.generation, 1);
    const labelled = (await k.merge(`${DEPLOYMENTS}/gen`, { metadata: { labels: { x: 'y' } } })).body;
    assert.equal(labelled.metadata.generation, 1);
    const status = (await k.merge(`${DEPLOYMENTS}/gen/status`, { status: { collisionCount: 1 } })).body;
    assert.equal(status.metadata.generation, 1);
    const spec = (await k.merge(`${DEPLOYMENTS}/gen`, { spec: { replicas: 3 } })).body;
    assert.equal(spec.metadata.generation, 2);
    const same = (await k.merge(`${DEPLOYMENTS}/gen`, { spec: { replicas: 3 } })).body;
    assert.equal(same.metadata.generation, 2, 'a write that changes nothing is no new generation');
    assert.ok(Number(spec.metadata.resourceVersion) > Number(labelled.metadata.resourceVersion), 'one global counter');
  });
});

describe('what each kind keeps', () => {
  it('keeps generation only where the real kind does, and gives a ClusterIP Service an address', async () => {
    const cm = (await k.post(CM, configMap('plain'))).body;
    assert.equal(cm.metadata.generation, undefined);
    const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'addressed' }, spec: { ports: [{ port: 80 }] } };
    const made = (await k.post('/api/v1/namespaces/default/services', svc)).body;
    assert.equal(made.metadata.generation, undefined);
    assert.match(made.spec.clusterIP, /^10\.96\.\d+\.\d+$/);
    assert.deepEqual(made.spec.ports, [{ port: 80, protocol: 'TCP' }]);
  });

  it('serves /scale for Deployments: an autoscaling/v1 Scale over spec.replicas', async () => {
    await k.post(DEPLOYMENTS, deployment('scaled', 'app:1', 2));
    const scale = (await k.get(`${DEPLOYMENTS}/scaled/scale`)).body;
    assert.deepEqual(
      [scale.kind, scale.apiVersion, scale.spec.replicas, scale.status.selector],
      ['Scale', 'autoscaling/v1', 2, 'app=scaled'],
    );
    const patched = await k.merge(`${DEPLOYMENTS}/scaled/scale`, { spec: { replicas: 4 } });
    assert.equal(patched.body.spec.replicas, 4);
    assert.equal(api.get('apps/v1', 'Deployment', 'default', 'scaled')!.spec.replicas, 4);
    const stale = await k.put(`${DEPLOYMENTS}/scaled/scale`, { ...scale, spec: { replicas: 1 } });
    assert.equal(stale.status, 409, 'a Scale read before the change is stale');
    assert.equal((await k.merge(`${DEPLOYMENTS}/scaled/scale`, { spec: { replicas: -1 } })).status, 422);
  });
});

describe('deletion', () => {
  it('deletes with preconditions, and answers 404 for what is not there', async () => {
    const made = (await k.post(CM, configMap('gone'))).body;
    const wrongUid = await k.delete(`${CM}/gone`, { preconditions: { uid: 'not-it' } });
    assert.equal(wrongUid.status, 409);
    assert.match(wrongUid.body.message, /Precondition failed: UID in precondition: not-it/);
    const ok = await k.delete(`${CM}/gone`, {
      preconditions: { uid: made.metadata.uid, resourceVersion: made.metadata.resourceVersion },
    });
    assert.equal(ok.status, 200);
    assert.equal((await k.delete(`${CM}/gone`)).status, 404);
  });

  it('keeps an object with finalizers, marked for deletion, until the last finalizer is removed', async () => {
    await k.post(CM, { ...configMap('held'), metadata: { name: 'held', finalizers: ['example.com/hold'] } });
    const marked = await k.delete(`${CM}/held`);
    assert.ok(marked.body.metadata.deletionTimestamp);
    assert.ok(api.get('v1', 'ConfigMap', 'default', 'held'));
    await k.merge(`${CM}/held`, { metadata: { finalizers: null } });
    assert.equal(api.get('v1', 'ConfigMap', 'default', 'held'), undefined);
  });
});

describe('hostile requests get a Status, never a crash', () => {
  const cases: [string, string, string, unknown, string?][] = [
    ['a body that is not JSON', 'POST', DEPLOYMENTS, '{"apiVersion":'],
    ['a body that is an array', 'POST', DEPLOYMENTS, '[1,2]'],
    ['a body that is null', 'POST', DEPLOYMENTS, 'null'],
    ['metadata that is a string', 'POST', DEPLOYMENTS, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: 'x' }],
    [
      'the wrong kind for the path',
      'POST',
      DEPLOYMENTS,
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } },
    ],
    ['a name that does not match the URL', 'PUT', `${DEPLOYMENTS}/shop`, { ...deployment('other') }],
    [
      'an invalid name',
      'POST',
      '/api/v1/namespaces/default/configmaps',
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Not_Valid' } },
    ],
    ['a bad label selector', 'GET', `${DEPLOYMENTS}?labelSelector=a%20in%20b`, undefined],
    ['an unknown field selector', 'GET', `${DEPLOYMENTS}?fieldSelector=spec.x%3D1`, undefined],
    ['a JSON patch that is not a list', 'PATCH', `${DEPLOYMENTS}/shop`, { op: 'add' }, 'application/json-patch+json'],
    [
      'a JSON patch to a missing path',
      'PATCH',
      `${DEPLOYMENTS}/shop`,
      [{ op: 'replace', path: '/no/such', value: 1 }],
      'application/json-patch+json',
    ],
    ['a patch type the server does not take', 'PATCH', `${DEPLOYMENTS}/shop`, {}, 'text/plain'],
    [
      'an apply without a field manager',
      'PATCH',
      `${DEPLOYMENTS}/shop`,
      'apiVersion: apps/v1',
      'application/apply-patch+yaml',
    ],
    [
      'an apply that is not YAML',
      'PATCH',
      `${DEPLOYMENTS}/shop?fieldManager=x`,
      'a: [',
      'application/apply-patch+yaml',
    ],
    [
      'a Deployment whose selector does not select its template',
      'POST',
      DEPLOYMENTS,
      { ...deployment('sel'), spec: { ...deployment('sel').spec, selector: { matchLabels: { app: 'other' } } } },
    ],
    [
      'a negative replica count',
      'POST',
      DEPLOYMENTS,
      { ...deployment('neg'), spec: { ...deployment('neg').spec, replicas: -1 } },
    ],
    ['a path under no kind', 'GET', '/apis/apps/v1/namespaces/default/widgets', undefined],
    ['a body nested 100000 deep', 'POST', DEPLOYMENTS, `{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`],
    [
      'a YAML apply nested 2000 deep (the YAML parser is slow on deep input)',
      'PATCH',
      `${DEPLOYMENTS}/shop?fieldManager=x`,
      `a: ${'['.repeat(2_000)}${']'.repeat(2_000)}`,
      'application/apply-patch+yaml',
    ],
    ['a protobuf body', 'POST', DEPLOYMENTS, 'k8s\u0000', 'application/vnd.kubernetes.protobuf'],
    ['a namespaced kind written without a namespace', 'POST', '/apis/apps/v1/deployments', deployment('x')],
  ];
  for (const [what, method, path, body, type] of cases) {
    it(`refuses ${what}`, async () => {
      const res = await kube(api.url, method, path, body, type);
      assert.ok(res.status >= 400 && res.status < 500, `${what}: ${res.status} ${JSON.stringify(res.body)}`);
      assert.equal(res.body.kind, 'Status');
      assert.equal(res.body.code, res.status);
    });
  }

  it('refuses a body over 3 MiB with 413', async () => {
    const res = await kube(api.url, 'POST', '/api/v1/namespaces/default/configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'big' },
      data: { x: 'y'.repeat(3_200_000) },
    });
    assert.equal(res.status, 413);
  });
});
