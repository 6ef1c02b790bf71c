/**
 * The whole of Kubernetes mode judged as it would be on a cluster, once per router that
 * gives each request its own version: the operator on the test API server (with kanari's
 * generated CRD), each router writing the user's objects, a weight exporter per router
 * turning what was written into the counters of the proxy that carries the users, one real
 * Prometheus scraping them all, and the default sequential judge counting from it.
 *
 * - istio: a VirtualService and DestinationRule, counted by Istio's sidecars, each pod its
 *   own scrape target (three here, scraped at their own offsets: no shared timestamps);
 * - gatewayapi: an HTTPRoute, counted by Istio's sidecars too (Istio implementing the
 *   Gateway API: its destination sidecars count per workload, whatever routed the request);
 * - nginx: a canary Ingress, counted by ingress-nginx per backend Service;
 * - gatewayapi again, counted by Envoy Gateway per backendRef cluster: kanari's weighted copies
 *   set a version header on each backendRef, which gives each its own cluster, named by the
 *   copy's place among the rules (a user rule before them here, and two rules to the Service,
 *   whose clusters the judge sums).
 *
 * For each, at the same time: a healthy release is promoted; a release whose pods fail 30%
 * of requests is rolled back by the judge; the user's routing objects end as they began.
 * (replicas, which sends whole connections to a version, cannot be judged by this test:
 * see judge-fit.ts.)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import type { KubeObject } from '../../src/kube/api.js';
import { rolloutCrd } from '../../src/kube/crd.js';
import { kubernetesWorld } from '../../src/operator/compose.js';
import { EVIDENCE_PREFIX, TRAFFIC, type TrafficBucket } from '../../src/store/history.js';
import { readLog } from '../../src/store/kubernetes-log-document.js';
import { Operator } from '../../src/operator/operator.js';
import { versionOf } from '../../src/operator/release.js';
import {
  appTemplate,
  createApp,
  setImage,
  startCluster,
  TEST_ELECTION,
  type TestCluster,
} from '../helpers/kube/cluster.js';
import { destinationRuleCrd, httpRouteCrd, virtualServiceCrd } from '../helpers/kube/crd-manifests.js';
import {
  WeightExporter,
  type ExportedRouting,
  type VersionBehaviour,
  type WeightExporterOptions,
} from '../helpers/kube/weight-exporter.js';
import { startPrometheus, type TestPrometheus } from '../helpers/prometheus.js';

const HEALTHY: VersionBehaviour = { errorRate: 0.01, latencyMs: { median: 20, sigma: 0.3 } };
const FAILING: VersionBehaviour = { errorRate: 0.3, latencyMs: { median: 20, sigma: 0.3 } };
const NS = 'default';

/** One router's case: the user's objects before kanari, how the Rollout routes, and what the exporter reads. */
interface RouterCase {
  app: string;
  /** The user's routing objects, which must end as they began. */
  objects: KubeObject[];
  trafficRouting: object;
  preset: 'istio' | 'ingress-nginx' | 'envoy-gateway';
  routing: ExportedRouting;
  requests?: WeightExporterOptions['requests'];
  scrapeTargets?: number;
}

const ISTIO: RouterCase = {
  app: 'web',
  objects: [
    {
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'VirtualService',
      metadata: { name: 'web', namespace: NS },
      spec: {
        hosts: ['web'],
        http: [
          {
            name: 'api',
            match: [{ uri: { prefix: '/api' } }],
            timeout: '5s',
            route: [{ destination: { host: 'web' } }],
          },
        ],
      },
    },
    {
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'DestinationRule',
      metadata: { name: 'web', namespace: NS },
      spec: { host: 'web', trafficPolicy: { connectionPool: { http: { http1MaxPendingRequests: 100 } } } },
    },
  ],
  trafficRouting: { istio: { virtualService: { name: 'web' }, destinationRule: { name: 'web' } } },
  preset: 'istio',
  routing: { istio: { virtualService: 'web', destinationRule: 'web' } },
  requests: [{ share: 1, headers: { ':path': '/api/items' } }],
  scrapeTargets: 3,
};

const GATEWAY_API: RouterCase = {
  app: 'shop',
  objects: [
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'shop', namespace: NS },
      spec: {
        parentRefs: [{ name: 'public', namespace: 'gateways' }],
        hostnames: ['shop.example.com'],
        rules: [
          {
            matches: [{ path: { type: 'PathPrefix', value: '/' } }],
            filters: [
              { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-shop', value: '1' }] } },
            ],
            backendRefs: [{ name: 'shop', port: 80 }],
          },
        ],
      },
    },
  ],
  trafficRouting: { gatewayAPI: { httpRoute: 'shop' } },
  preset: 'istio',
  routing: { gatewayapi: { httpRoute: 'shop' } },
};

const NGINX: RouterCase = {
  app: 'cart',
  objects: [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'cart', namespace: NS, annotations: { 'nginx.ingress.kubernetes.io/proxy-body-size': '1m' } },
      spec: {
        ingressClassName: 'nginx',
        rules: [
          {
            host: 'cart.example.com',
            http: {
              paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'cart', port: { number: 80 } } } }],
            },
          },
        ],
      },
    },
  ],
  trafficRouting: { nginx: { ingress: 'cart' } },
  preset: 'ingress-nginx',
  routing: { nginx: { ingress: 'cart' } },
};

const ENVOY_GATEWAY: RouterCase = {
  app: 'store',
  objects: [
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'store', namespace: NS },
      spec: {
        parentRefs: [{ name: 'public', namespace: 'gateways' }],
        rules: [
          {
            matches: [{ headers: [{ name: 'x-admin', value: 'yes' }] }],
            backendRefs: [{ name: 'store-admin', port: 80 }],
          },
          { matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'store', port: 80 }] },
          { matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backendRefs: [{ name: 'store', port: 80 }] },
        ],
      },
    },
  ],
  trafficRouting: { gatewayAPI: { httpRoute: 'store' } },
  preset: 'envoy-gateway',
  routing: { gatewayapi: { httpRoute: 'store' } },
};

const CASES = [ISTIO, GATEWAY_API, NGINX, ENVOY_GATEWAY];

let cluster: TestCluster;
let prometheus: TestPrometheus;
let operator: Operator;
const exporters = new Map<string, WeightExporter>();
const behaviours = new Map<string, Record<string, VersionBehaviour> & { default: VersionBehaviour }>();
const log: string[] = [];

before(async () => {
  cluster = await startCluster({ deploymentReadyDelayMs: 50 });
  const { client } = cluster;
  for (const crd of [rolloutCrd(), virtualServiceCrd(), destinationRuleCrd(), httpRouteCrd()]) await client.create(crd);
  await sleep(100); // the CRDs established
  for (const c of CASES) {
    for (const o of c.objects) await client.create(o);
    await createApp(client, c.app, 2, `${c.app}:1`);
    const behaviour = { default: HEALTHY };
    behaviours.set(c.app, behaviour);
    exporters.set(
      c.app,
      new WeightExporter({
        apiServer: cluster.api.url,
        namespace: NS,
        routing: c.routing,
        rate: 400,
        seed: 7,
        // Which requests fail and which are slow is fixed, not drawn: drawn, each of the four
        // healthy releases is an A/A comparison at the default α = 0.05, which the errors
        // metric alone rolls back by chance about 2% of the time (its e-value's path counted
        // exactly over ~40–100 errors at 20% then 50%), latency's three quantiles up to ~0.8%
        // each more: one run in ten or more. Which version each request meets is still drawn.
        draws: 'even',
        presets: [c.preset],
        behaviour,
        ...(c.requests ? { requests: c.requests } : {}),
        ...(c.scrapeTargets ? { scrapeTargets: c.scrapeTargets } : {}),
      }),
    );
  }
  const targets: string[] = [];
  for (const e of exporters.values()) targets.push(...(await e.start()).targets);
  prometheus = await startPrometheus(targets, 'unused');
  operator = new Operator({
    client,
    leaseNamespace: NS,
    identity: 'operator-1',
    resyncMs: 500,
    election: TEST_ELECTION,
    // The stand-in Deployment controller takes pods out at once: no need to hold stable's routes 30 s.
    world: (c) => kubernetesWorld(c, { pollMs: 100, holdMs: 1000 }),
    log: (line) => log.push(line),
  });
  operator.start();
  for (const c of CASES)
    await client.create({
      apiVersion: 'kanari.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name: c.app, namespace: NS },
      spec: {
        workloadRef: { name: c.app },
        service: { name: c.app },
        trafficRouting: c.trafficRouting,
        metrics: { prometheus: { address: prometheus.url, preset: c.preset } },
        strategy: {
          canary: {
            analysis: { templates: ['sequential'] },
            steps: [{ setWeight: 20 }, { pause: { duration: '8s' } }, { setWeight: 50 }, { pause: { duration: '8s' } }],
          },
        },
      },
    });
});

after(async () => {
  await operator?.stop();
  await prometheus?.stop();
  for (const e of exporters.values()) await e.stop();
  await cluster?.close();
});

const rolloutOf = (app: string) => cluster.api.get('kanari.dev/v1alpha1', 'Rollout', NS, app);
const userObjects = (c: RouterCase) =>
  c.objects.map((o) => cluster.api.get(o.apiVersion!, o.kind!, NS, String(o.metadata!['name'])));

async function until(c: RouterCase, what: string, ok: () => boolean, ms = 90_000, more = () => ''): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) {
      const mine = log.filter((l) => l.includes(c.app)).slice(-20);
      const exporter = exporters.get(c.app)!;
      assert.fail(
        `${c.app}: ${what} within ${ms} ms; ${rolloutOf(c.app)?.status?.message}\nexporter: ${exporter.error ?? JSON.stringify(exporter.paths)}\n${mine.join('\n')}\n${more()}`,
      );
    }
    await sleep(100);
  }
}

/** Whether the user's objects read as they were written (their spec, and an Ingress's annotations). */
function asWritten(c: RouterCase, before: KubeObject[]): boolean {
  const now = userObjects(c);
  return before.every((b, i) => {
    const n = now[i];
    return (
      isDeepStrictEqual(n?.spec, b.spec) &&
      isDeepStrictEqual(
        (n?.metadata as { annotations?: unknown } | undefined)?.annotations,
        (b.metadata as { annotations?: unknown }).annotations,
      )
    );
  });
}

describe('Kubernetes mode judged from Prometheus', { concurrency: true }, () => {
  for (const c of CASES)
    it(`${Object.keys(c.trafficRouting)[0]} (${c.preset}): promotes a healthy release and rolls back a failing one, judged by the default judge from ${c.preset} counts`, async () => {
      const exporter = exporters.get(c.app)!;
      const rollout = () => rolloutOf(c.app);
      await until(c, 'stable serves', () => rollout()?.status?.phase === 'StableOnly' && exporter.sent.size > 0);
      const before = structuredClone(userObjects(c)) as KubeObject[];

      await setImage(cluster.client, c.app, `${c.app}:2`);
      await until(c, 'v2 promoted', () => rollout()?.status?.state?.result?.outcome === 'Promoted');
      const promoted = rollout()!.status.state;
      assert.equal(promoted.stable.version, versionOf(appTemplate(c.app, `${c.app}:2`)));
      assert.equal(promoted.analyses[0]?.template, 'sequential');

      const v3 = versionOf(appTemplate(c.app, `${c.app}:3`));
      behaviours.get(c.app)![`${c.app}-${v3}`] = FAILING;
      await setImage(cluster.client, c.app, `${c.app}:3`);
      await until(c, 'v3 rolled back', () => rollout()?.status?.state?.result?.outcome === 'RolledBack');
      const rolledBack = rollout()!.status.state;
      assert.match(rolledBack.result.reason, /sequential/);
      assert.equal(rolledBack.stable.version, versionOf(appTemplate(c.app, `${c.app}:2`)));
      assert.ok((exporter.sent.get(`${c.app}-${v3}`) ?? 0) > 0, 'v3 served some requests before it was judged');
      // The log beside the Rollout (kubernetes/history.md): the releases' events, the judge's evidence and the counts it judged by.
      const kept = () => readLog(cluster.api.get('v1', 'ConfigMap', NS, `${c.app}.kanari-log`)?.data).log;
      await until(c, 'the rollback in the log', () =>
        kept().events.some((e) => e.type === 'result' && e.data.outcome === 'RolledBack'),
      );
      assert.ok(
        kept().history.some((r) => r.series.startsWith(EVIDENCE_PREFIX)),
        'evidence kept',
      );
      const failing = kept().history.filter(
        (r) => r.series === TRAFFIC && ((r.data as TrafficBucket).canary?.errors ?? 0) > 0,
      );
      assert.ok(failing.length > 0, "v3's errors kept as the judge counted them");
      // And the latency the preset's histogram gave the judge, each bucket at its bound.
      const timed = kept().history.filter(
        (r) => r.series === TRAFFIC && ((r.data as TrafficBucket).canary?.latency.count ?? 0) > 0,
      );
      assert.ok(timed.length > 0, "v3's latency kept from the histogram");
      if (c.preset === 'envoy-gateway') {
        // Each version was counted in a cluster of its own: its backendRef in kanari's copy, after the user's header rule.
        const res = await fetch(`${prometheus.url}/api/v1/label/envoy_cluster_name/values`);
        const names = ((await res.json()) as { data: string[] }).data;
        for (const backend of [0, 1])
          assert.ok(names.includes(`httproute/${NS}/store/rule/1/backend/${backend}`), names.join(' '));
      }

      // The user's routes are back as written, once kanari's rules are gone (after their hold).
      await until(
        c,
        'the user objects as before',
        () => asWritten(c, before),
        60_000,
        () => `before ${JSON.stringify(before)}\nnow ${JSON.stringify(userObjects(c))}`,
      );
    });
});
