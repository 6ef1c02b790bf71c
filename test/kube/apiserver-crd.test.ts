// CustomResourceDefinitions on the test API server: served while they exist, objects pruned,
// defaulted and validated by their schema, atomic lists under server-side apply (why kanari
// edits HTTPRoute rules by read-modify-write), and printer columns as a Table.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startKubeApiServer, type TestKubeApi } from '../helpers/kube/apiserver.js';
import { destinationRuleCrd, httpRouteCrd, virtualServiceCrd } from '../helpers/kube/crd-manifests.js';
import { eventually, installCrds, kube, kubeAt } from '../helpers/kube/request.js';

let api: TestKubeApi;
let k: ReturnType<typeof kubeAt>;
const ROUTES = '/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes';
const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

const route = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name },
  spec,
});
const rule = (name: string, backend: string) => ({ name, backendRefs: [{ name: backend, port: 80 }] });

before(async () => {
  api = await startKubeApiServer();
  k = kubeAt(api.url);
  await installCrds(api.url, httpRouteCrd(), virtualServiceCrd(), destinationRuleCrd());
});
after(() => api.close());

describe('CRDs', () => {
  it('serves a CRD once created, marks it Established, and stops serving it (and its objects) once deleted', async () => {
    const gw = (await k.get('/apis/gateway.networking.k8s.io/v1')).body;
    assert.deepEqual(
      gw.resources.map((r: any) => r.name),
      ['httproutes', 'httproutes/status'],
    );
    assert.equal((await k.get('/apis/gateway.networking.k8s.io/v1beta1')).status, 200, 'every served version');
    await eventually(
      () =>
        api
          .get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', undefined, 'httproutes.gateway.networking.k8s.io')
          ?.status?.conditions?.find((c: any) => c.type === 'Established' && c.status === 'True'),
      'Established',
    );
    const widget = { ...httpRouteCrd(), metadata: { name: 'widgets.example.com' } };
    widget.spec = {
      ...widget.spec,
      group: 'example.com',
      names: { kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList' },
    };
    await installCrds(api.url, widget);
    assert.equal(
      (
        await k.post('/apis/example.com/v1/namespaces/default/widgets', {
          apiVersion: 'example.com/v1',
          kind: 'Widget',
          metadata: { name: 'w' },
          spec: {},
        })
      ).status,
      201,
    );
    assert.equal((await k.delete(`${CRDS}/widgets.example.com`)).status, 200);
    assert.equal((await k.get('/apis/example.com/v1')).status, 404);
    assert.ok(!(await k.get('/apis')).body.groups.some((g: any) => g.name === 'example.com'));
    assert.equal((await k.get('/apis/example.com/v1/namespaces/default/widgets/w')).status, 404);
  });

  it('prunes unknown fields, keeps preserved ones, fills defaults, and with fieldValidation=Strict refuses them', async () => {
    const made = await k.post(
      ROUTES,
      route('pruned', {
        unknown: 1,
        rules: [
          {
            backendRefs: [{ name: 'svc', port: 80, bogus: true }],
            filters: [{ type: 'URLRewrite', urlRewrite: { anything: 'kept' } }],
          },
        ],
      }),
    );
    assert.equal(made.status, 201);
    assert.equal(made.body.spec.unknown, undefined);
    assert.deepEqual(made.body.spec.rules[0].backendRefs[0], { name: 'svc', port: 80, kind: 'Service', weight: 1 });
    assert.deepEqual(made.body.spec.rules[0].filters[0].urlRewrite, { anything: 'kept' });
    assert.deepEqual(made.body.spec.rules[0].matches, [{ path: { type: 'PathPrefix', value: '/' } }]);
    assert.match(made.headers.get('warning') ?? '', /unknown field \\"spec\.unknown\\"/);
    const strategic = await kube(
      api.url,
      'PATCH',
      `${ROUTES}/pruned`,
      { spec: {} },
      'application/strategic-merge-patch+json',
    );
    assert.equal(strategic.status, 415, 'custom resources take no strategic merge patch, as on a real server');
    const strict = await kube(api.url, 'POST', `${ROUTES}?fieldValidation=Strict`, route('strict', { unknown: 1 }));
    assert.equal(strict.status, 400);
    assert.match(strict.body.message, /unknown field "spec.unknown"/);
  });

  it('validates types, required fields, enums, bounds and patterns with 422 and one cause per field', async () => {
    const res = await k.post(
      ROUTES,
      route('invalid', {
        hostnames: 'not-a-list',
        rules: [{ name: 'Bad_Name', backendRefs: [{ port: 70000, weight: -1 }], filters: [{ type: 'Teleport' }] }],
      }),
    );
    assert.equal(res.status, 422);
    assert.equal(res.body.reason, 'Invalid');
    const fields = res.body.details.causes.map((c: any) => c.field).sort();
    assert.deepEqual(fields, [
      'spec.hostnames',
      'spec.rules[0].backendRefs[0].name',
      'spec.rules[0].backendRefs[0].port',
      'spec.rules[0].backendRefs[0].weight',
      'spec.rules[0].filters[0].type',
      'spec.rules[0].name',
    ]);
    assert.match(res.body.message, /^HTTPRoute\.gateway\.networking\.k8s\.io "invalid" is invalid: \[/);
    assert.equal(api.get('gateway.networking.k8s.io/v1', 'HTTPRoute', 'default', 'invalid'), undefined);
  });

  it('treats a list without x-kubernetes-list-type as atomic under server-side apply: one manager takes it whole', async () => {
    const path = `${ROUTES}/shared`;
    const mine = route('shared', { rules: [rule('users-rule', 'stable')] });
    assert.equal((await k.apply(path, mine, 'user')).status, 201);
    const theirs = route('shared', { rules: [rule('kanari-canary', 'canary')] });
    const refused = await k.apply(path, theirs, 'kanari');
    assert.equal(refused.status, 409);
    assert.equal(refused.body.reason, 'Conflict');
    assert.equal(
      refused.body.message,
      'Apply failed with 1 conflict: conflict with "user" using gateway.networking.k8s.io/v1: .spec.rules',
    );
    const forced = await k.apply(path, theirs, 'kanari', true);
    assert.deepEqual(
      forced.body.spec.rules.map((r: any) => r.name),
      ['kanari-canary'],
      "the user's rule is gone: the list was replaced whole",
    );
    // Read-modify-write at the read resourceVersion keeps both, which is what kanari does.
    const read = (await k.get(path)).body;
    read.spec.rules.push(rule('users-rule', 'stable'));
    const written = await k.put(path, read);
    assert.equal(written.status, 200);
    assert.deepEqual(
      written.body.spec.rules.map((r: any) => r.name),
      ['kanari-canary', 'users-rule'],
    );
    const owners = written.body.metadata.managedFields.map((m: any) => [
      m.manager,
      m.operation,
      Object.keys(m.fieldsV1['f:spec'] ?? {}),
    ]);
    assert.deepEqual(
      owners,
      [['node', 'Update', ['f:rules']]],
      'the writer, named by its user agent, took the atomic list from its last applier',
    );
  });

  it('answers printer columns as a meta.k8s.io/v1 Table when asked', async () => {
    await k.post(ROUTES, route('printed', { hostnames: ['shop.example.com'] }));
    const table = await kube(api.url, 'GET', ROUTES, undefined, undefined, TABLE);
    assert.equal(table.body.kind, 'Table');
    assert.equal(table.body.apiVersion, 'meta.k8s.io/v1');
    assert.deepEqual(
      table.body.columnDefinitions.map((c: any) => c.name),
      ['Name', 'Hostnames', 'Age'],
    );
    const row = table.body.rows.find((r: any) => r.cells[0] === 'printed');
    assert.equal(row.cells[1], '["shop.example.com"]');
    assert.match(row.cells[2], /^\d+s$/);
    assert.equal(row.object.kind, 'PartialObjectMetadata');
  });

  it('refuses a CRD whose schema it could not enforce, and one named unlike its plural and group', async () => {
    const noSchema = { ...httpRouteCrd(), metadata: { name: 'things.example.com' } };
    noSchema.spec = {
      ...noSchema.spec,
      group: 'example.com',
      names: { kind: 'Thing', plural: 'things', singular: 'thing', listKind: 'ThingList' },
    };
    (noSchema.spec.versions[0] as any).schema.openAPIV3Schema = {
      type: 'object',
      properties: { spec: { properties: {} } },
    };
    const res = await k.post(CRDS, noSchema);
    assert.equal(res.status, 422);
    const misnamed = { ...httpRouteCrd(), metadata: { name: 'routes.example.com' } };
    assert.equal((await k.post(CRDS, misnamed)).status, 422);
    assert.equal((await k.get('/apis/example.com/v1')).status, 404);
  });
});
