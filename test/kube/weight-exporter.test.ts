/**
 * The weight exporter (test/helpers/kube/weight-exporter.ts) against a fixed JSON API:
 * the weights it reads from each router's objects, the traffic it makes of them, and a
 * clear error for any object it cannot read. Its Prometheus side is
 * weight-exporter-prometheus.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CANARY, shopObjects, STABLE, startFixedApi, type FixedApi } from '../helpers/kube/fixed-api.js';
import { WeightReader, apiGet, type ExportedRouting } from '../helpers/kube/weight-reader.js';
import { WeightExporter, type VersionBehaviour } from '../helpers/kube/weight-exporter.js';

const ROUTERS: Record<string, ExportedRouting> = {
  gatewayapi: { gatewayapi: { httpRoute: 'shop' } },
  istio: { istio: { virtualService: 'shop', destinationRule: 'shop' } },
  nginx: { nginx: { ingress: 'shop' } },
  replicas: { replicas: { service: 'shop' } },
};
const HTTPROUTE = '/apis/gateway.networking.k8s.io/v1/namespaces/web/httproutes/shop';
const VIRTUALSERVICE = '/apis/networking.istio.io/v1beta1/namespaces/web/virtualservices/shop';
const DEPLOYMENTS = '/apis/apps/v1/namespaces/web/deployments';
const fine: VersionBehaviour = { errorRate: 0.01, latencyMs: { median: 20, sigma: 0.3 } };

/** The paths of one kind of request as [deployment, share, extra] rows, shares rounded. */
async function rows(api: FixedApi, router: string, headers: Record<string, string> = {}) {
  const paths = await new WeightReader(apiGet(api.url), 'web', ROUTERS[router]!).paths(headers);
  return paths.map((p) => [
    p.deployment ?? '-',
    Math.round(p.share * 1000) / 1000,
    p.envoyCluster ?? p.ingress?.name ?? '',
  ]);
}

describe('the weights each router wrote', () => {
  let api: FixedApi;
  before(async () => (api = await startFixedApi(shopObjects(20))));
  after(() => api.close());

  it('gatewayapi: the first rule a request matches, backendRef weights, a cluster per backendRef with filters', async () => {
    assert.deepEqual(await rows(api, 'gatewayapi'), [
      [STABLE, 0.8, 'httproute/web/shop/rule/1/backend/0'],
      [CANARY, 0.2, 'httproute/web/shop/rule/1/backend/1'],
    ]);
    assert.deepEqual(await rows(api, 'gatewayapi', { 'x-canary': '1' }), [
      [CANARY, 1, 'httproute/web/shop/rule/0/backend/0'],
    ]);
    // Without filters Envoy Gateway makes one cluster for the rule: both versions count under it.
    const route = structuredClone(api.objects.get(HTTPROUTE)) as any;
    for (const b of route.spec.rules[1].backendRefs) delete b.filters;
    api.objects.set(HTTPROUTE, route);
    assert.deepEqual(
      (await rows(api, 'gatewayapi')).map((r) => r[2]),
      ['httproute/web/shop/rule/1', 'httproute/web/shop/rule/1'],
    );
    api.objects.set(HTTPROUTE, shopObjects(20)[HTTPROUTE]);
  });

  it('istio: route weights to DestinationRule subsets, picked within the Service by the subset labels', async () => {
    assert.deepEqual(await rows(api, 'istio'), [
      [STABLE, 0.8, ''],
      [CANARY, 0.2, ''],
    ]);
    assert.deepEqual(await rows(api, 'istio', { 'x-canary': '1' }), [[CANARY, 1, '']]);
  });

  it('nginx: canary-weight of the canary Ingress on the same host and path; by-header and by-cookie first', async () => {
    assert.deepEqual(await rows(api, 'nginx'), [
      [STABLE, 0.8, 'shop'],
      [CANARY, 0.2, 'shop-canary'],
    ]);
    assert.deepEqual(await rows(api, 'nginx', { 'x-canary': 'always' }), [[CANARY, 1, 'shop-canary']]);
    assert.deepEqual(await rows(api, 'nginx', { cookie: 'a=b; canary=never' }), [[STABLE, 1, 'shop']]);
    assert.deepEqual(
      await rows(api, 'nginx', { 'x-canary': 'maybe' }),
      await rows(api, 'nginx'),
      'neither always nor never: the weight',
    );
  });

  it("replicas: the user's Service spreads by ready pods (3 : 1), the zero-replica workload taking none", async () => {
    assert.deepEqual(await rows(api, 'replicas'), [
      [STABLE, 0.75, ''],
      [CANARY, 0.25, ''],
    ]);
  });

  it('says what it cannot read, by path, for any shape an edited object may have', async () => {
    const broken: [string, unknown, RegExp][] = [
      [VIRTUALSERVICE, { spec: { http: 'oops' } }, /VirtualService shop spec\.http is not a list/],
      [
        VIRTUALSERVICE,
        { spec: { http: [{ route: [{ destination: { host: 'shop', subset: 'zzz' }, weight: 1 }] }] } },
        /names subset "zzz", which DestinationRule shop does not define/,
      ],
      [
        HTTPROUTE,
        { spec: { rules: [{ backendRefs: [{ name: CANARY, weight: -1 }] }] } },
        /backendRefs\[0\]\.weight is -1, not a whole number/,
      ],
      [
        HTTPROUTE,
        { spec: { rules: [{ matches: [{ headers: [{ name: 'x', value: 'y' }] }] }] } },
        /no rule matches a request with headers \{\}/,
      ],
      [HTTPROUTE, null, /is not an object/],
      [
        DEPLOYMENTS,
        { items: [{ metadata: { name: 'x' }, spec: { template: {} }, status: { readyReplicas: '3' } }] },
        /status\.readyReplicas is "3"/,
      ],
    ];
    for (const [path, object, message] of broken) {
      const saved = api.objects.get(path);
      api.objects.set(path, object);
      const router = path.includes('virtualservices') ? 'istio' : 'gatewayapi';
      await assert.rejects(rows(api, router), message, `${path} = ${JSON.stringify(object)}`);
      api.objects.set(path, saved);
    }
    api.objects.delete(HTTPROUTE);
    await assert.rejects(rows(api, 'gatewayapi'), /httproutes\/shop does not exist/);
    api.fail(VIRTUALSERVICE, 500, 'etcd is down');
    await assert.rejects(rows(api, 'istio'), /GET .*virtualservices\/shop: 500 etcd is down/);
    api.fail(VIRTUALSERVICE, 200, '<html>');
    await assert.rejects(rows(api, 'istio'), /with a body that is not JSON/);
  });
});

describe('the traffic it makes', () => {
  const objects = shopObjects(20);
  const get = async (path: string) => objects[path];
  const exporter = (seed: number, behaviour: Record<string, VersionBehaviour> = {}) =>
    new WeightExporter({
      apiServer: get,
      namespace: 'web',
      routing: ROUTERS['gatewayapi']!,
      rate: 1000,
      seed,
      behaviour: { default: fine, ...behaviour },
    });

  it('splits by the weights read, the same counts for the same seed', async () => {
    const [a, b] = [exporter(7), exporter(7)];
    await Promise.all([a.refresh(), b.refresh()]);
    for (let i = 0; i < 100; i++) [a, b].forEach((e) => e.tick()); // 100 ticks of 100 ms at 1000/s: 10 000 requests
    assert.equal(a.metrics(), b.metrics());
    const [stable, canary] = [a.sent.get(STABLE)!, a.sent.get(CANARY)!];
    assert.equal(stable + canary, 10_000);
    // ±5 standard deviations of a binomial share of 10 000 at 0.2.
    assert.ok(Math.abs(canary / 10_000 - 0.2) < 5 * Math.sqrt((0.2 * 0.8) / 10_000), `canary share ${canary / 10_000}`);
    const [c, d] = [exporter(7), exporter(8)];
    await Promise.all([c.refresh(), d.refresh()]);
    for (let i = 0; i < 10; i++) [c, d].forEach((e) => e.tick());
    assert.notEqual(c.metrics(), d.metrics(), 'another seed draws other requests');
  });

  it("exposes each proxy's names and labels, the canary as bad as the test makes it", async () => {
    const e = exporter(1, { [CANARY]: { errorRate: 0.5, latencyMs: { median: 400, sigma: 0.1 } } });
    await e.refresh();
    for (let i = 0; i < 20; i++) e.tick();
    const text = e.metrics();
    const value = (line: RegExp) =>
      Number(new RegExp(`^${line.source} (\\d+(?:\\.\\d+)?)$`, 'm').exec(text)?.[1] ?? NaN);
    const canaryCluster = 'envoy_cluster_name="httproute/web/shop/rule/1/backend/1"';
    const errors = value(
      new RegExp(`envoy_cluster_upstream_rq_xx\\{${canaryCluster},envoy_response_code_class="5"\\}`),
    );
    const ok = value(new RegExp(`envoy_cluster_upstream_rq_xx\\{${canaryCluster},envoy_response_code_class="2"\\}`));
    assert.ok(errors > 0.3 * (errors + ok) && errors < 0.7 * (errors + ok), `${errors} of ${errors + ok}`);
    assert.equal(
      value(new RegExp(`envoy_cluster_upstream_rq_time_bucket\\{${canaryCluster},le="250"\\}`)),
      0,
      'a 400 ms canary',
    );
    assert.match(
      text,
      /^istio_requests_total\{reporter="destination",destination_workload="shop-bbbbbbbbbb",destination_workload_namespace="web",response_code="503"\} \d+$/m,
    );
    assert.match(
      text,
      /^istio_request_duration_milliseconds_bucket\{.*destination_workload="shop-aaaaaaaaaa".*,le="\+Inf"\} \d+$/m,
    );
    assert.match(
      text,
      /^kube_deployment_status_replicas_available\{namespace="web",deployment="shop-aaaaaaaaaa"\} 3$/m,
    );
    assert.doesNotMatch(text, /nginx_ingress_controller/, 'an HTTPRoute routes no request through an Ingress');
  });

  it('turns the share of a backend without ready pods into errors, which no destination sidecar reports', async () => {
    const scaled = structuredClone(objects) as Record<string, any>;
    scaled[DEPLOYMENTS].items[2].status.readyReplicas = 0;
    const e = new WeightExporter({
      apiServer: async (p) => scaled[p],
      namespace: 'web',
      routing: ROUTERS['gatewayapi']!,
      rate: 1000,
      seed: 3,
      behaviour: { default: fine },
    });
    await e.refresh();
    for (let i = 0; i < 10; i++) e.tick();
    assert.ok(e.sent.get('')! > 0);
    assert.match(
      e.metrics(),
      /envoy_cluster_name="httproute\/web\/shop\/rule\/1\/backend\/1",envoy_response_code_class="5"\} \d+/,
    );
    assert.doesNotMatch(e.metrics(), /destination_workload="shop-bbbbbbbbbb"/);
  });

  it('stops sending while the objects cannot be read, saying why', async () => {
    const e = new WeightExporter({
      apiServer: async () => ({ spec: 'nope' }),
      namespace: 'web',
      routing: ROUTERS['istio']!,
      rate: 1000,
      seed: 1,
      behaviour: { default: fine },
    });
    await assert.rejects(e.refresh());
    e.tick();
    assert.equal(e.sent.size, 0);
    assert.match(e.error!, /(VirtualService shop|DestinationRule) spec is not an object/);
  });
});
