/**
 * Deleting a Rollout gives the user's workload and routing back before kanari's own
 * objects go, on the test API server (finalizers, deletionTimestamp and owner-reference
 * garbage collection as a real one does them): the Deployment is back at its size with
 * ready pods before any version Deployment is deleted, the user's routing objects are as
 * written, and nothing of kanari's is left. With the replicas router after an operator
 * restart (the cleanup is derived from the cluster), with Istio, nginx and the Gateway API
 * mid-release; a namespace deleted with a Rollout in it goes; a refused Rollout is deleted
 * at once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeObject, WatchEvent } from '../../src/kube/api.js';
import { rolloutCrd } from '../../src/kube/crd.js';
import { kubernetesWorld } from '../../src/operator/compose.js';
import { CLEANUP_FINALIZER } from '../../src/operator/give-back.js';
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
import { validateObject } from '../helpers/kube/models.js';

let cluster: TestCluster;
let operator: Operator;
const log: string[] = [];
/** Every Deployment change, in the order the API server made them. */
const history: WatchEvent[] = [];
let stopWatch: () => void;

const ROLLOUT = { apiVersion: 'kanari.dev/v1alpha1', kind: 'Rollout', namespace: 'default' };

const VIRTUAL_SERVICE = {
  apiVersion: 'networking.istio.io/v1beta1',
  kind: 'VirtualService',
  metadata: { name: 'mesh', namespace: 'default' },
  spec: {
    hosts: ['mesh'],
    http: [
      { name: 'api', match: [{ uri: { prefix: '/api' } }], timeout: '5s', route: [{ destination: { host: 'mesh' } }] },
    ],
  },
};
const DESTINATION_RULE = {
  apiVersion: 'networking.istio.io/v1beta1',
  kind: 'DestinationRule',
  metadata: { name: 'mesh', namespace: 'default' },
  spec: { host: 'mesh', trafficPolicy: { connectionPool: { http: { http1MaxPendingRequests: 100 } } } },
};
const HTTP_ROUTE = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name: 'gw', namespace: 'default' },
  spec: {
    parentRefs: [{ name: 'public', namespace: 'gateways' }],
    hostnames: ['gw.example.com'],
    rules: [
      {
        matches: [{ path: { type: 'PathPrefix', value: '/' } }],
        filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-gw', value: '1' }] } }],
        backendRefs: [{ name: 'gw', port: 80 }],
      },
    ],
  },
};
const INGRESS = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: {
    name: 'edge',
    namespace: 'default',
    annotations: { 'nginx.ingress.kubernetes.io/proxy-body-size': '8m' },
  },
  spec: {
    ingressClassName: 'nginx',
    rules: [
      {
        host: 'edge.example.com',
        http: {
          paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'edge', port: { number: 80 } } } }],
        },
      },
    ],
  },
};

function rolloutOf(name: string, trafficRouting: object, steps: object[]): KubeObject {
  return {
    apiVersion: ROLLOUT.apiVersion,
    kind: ROLLOUT.kind,
    metadata: { name, namespace: 'default' },
    spec: {
      workloadRef: { name },
      service: { name },
      trafficRouting,
      progressDeadline: '30s',
      strategy: { canary: { steps } },
    },
  };
}

/** Released to a fifth of users, then held there until someone promotes it. */
const HELD_RELEASE = [{ setWeight: 20 }, { pause: {} }];

function startOperator(identity: string): Operator {
  const o = new Operator({
    client: cluster.client,
    leaseNamespace: 'default',
    identity,
    resyncMs: 300,
    election: TEST_ELECTION,
    world: (c) => kubernetesWorld(c, { pollMs: 100, holdMs: 200 }),
    log: (line) => log.push(line),
  });
  o.start();
  return o;
}

before(async () => {
  cluster = await startCluster({ deploymentReadyDelayMs: 150 });
  const { client } = cluster;
  for (const crd of [rolloutCrd(), virtualServiceCrd(), destinationRuleCrd(), httpRouteCrd()]) await client.create(crd);
  await sleep(100); // the CRDs established
  await createApp(client, 'web', 3, 'web:1');
  await createApp(client, 'mesh', 2, 'mesh:1');
  await createApp(client, 'edge', 2, 'edge:1');
  await createApp(client, 'gw', 2, 'gw:1');
  await client.create(HTTP_ROUTE);
  await client.create(VIRTUAL_SERVICE);
  await client.create(DESTINATION_RULE);
  await client.create(INGRESS);
  const { resourceVersion } = await client.list('apps/v1', 'Deployment', 'default');
  const watch = client.watch('apps/v1', 'Deployment', { resourceVersion, namespace: 'default' }, (e) =>
    history.push(e),
  );
  stopWatch = () => watch.stop();
  await client.create(rolloutOf('web', { replicas: {} }, [{ setWeight: 50 }]));
  await client.create(
    rolloutOf('mesh', { istio: { virtualService: { name: 'mesh' }, destinationRule: { name: 'mesh' } } }, HELD_RELEASE),
  );
  await client.create(rolloutOf('edge', { nginx: { ingress: 'edge' } }, HELD_RELEASE));
  await client.create(rolloutOf('gw', { gatewayAPI: { httpRoute: 'gw' } }, HELD_RELEASE));
  operator = startOperator('operator-1');
});

after(async () => {
  stopWatch();
  await operator.stop();
  await cluster.close();
});

const get = (apiVersion: string, kind: string, name: string) => cluster.api.get(apiVersion, kind, 'default', name);
const rollout = (name: string) => get(ROLLOUT.apiVersion, 'Rollout', name);
const deployment = (name: string) => get('apps/v1', 'Deployment', name);
const deleteRollout = (name: string) => cluster.client.delete({ ...ROLLOUT, name });

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`${what} within ${ms} ms\n${log.join('\n')}`);
    await sleep(50);
  }
}

/** Everything kanari made for a rollout that is still there: version Deployments and Services, a canary Ingress. */
function kanarisObjects(name: string): string[] {
  return [
    ['apps/v1', 'Deployment'],
    ['v1', 'Service'],
    ['networking.k8s.io/v1', 'Ingress'],
  ].flatMap(([apiVersion, kind]) =>
    cluster.api
      .objects(apiVersion!, kind!, 'default')
      .filter((o) => o.metadata.labels?.['kanari.dev/rollout'] === name)
      .map((o) => `${kind} ${o.metadata.name}`),
  );
}

async function takenOver(name: string): Promise<void> {
  await until(
    `${name} taken over`,
    () => rollout(name)?.status?.phase === 'StableOnly' && deployment(name)?.spec.replicas === 0,
  );
  assert.deepEqual(rollout(name)?.metadata.finalizers, [CLEANUP_FINALIZER]);
}

/**
 * The Rollout is gone, its workload serves at `size` with its annotation gone, and it did
 * so before the first of kanari's version Deployments was deleted.
 */
async function givenBack(name: string, size: number): Promise<void> {
  const versionDeleted = (e: WatchEvent) =>
    e.type === 'DELETED' && e.object.metadata.labels?.['kanari.dev/rollout'] === name;
  await until(
    `${name} deleted and its objects collected`,
    // The watch reports the deletions a moment after the store has made them.
    () => !rollout(name) && kanarisObjects(name).length === 0 && history.some(versionDeleted),
  );
  const workload = deployment(name)!;
  assert.equal(workload.spec.replicas, size);
  assert.equal(workload.status?.readyReplicas, size);
  assert.equal(workload.metadata.annotations?.['kanari.dev/workload-replicas'], undefined);
  const first = history.findIndex(versionDeleted);
  const before = history.slice(0, first).findLast((e) => e.object.metadata.name === name)!;
  assert.equal(
    (before.object.status as { readyReplicas?: number }).readyReplicas,
    size,
    'the workload had every pod ready before kanari’s versions went',
  );
}

interface EventObject {
  involvedObject: { kind: string; name: string };
  type: string;
  reason: string;
  message: string;
}

/** The Events kanari wrote on a Rollout, each valid by the official schema. */
const eventsOn = (name: string) =>
  (cluster.api.objects('v1', 'Event', 'default') as unknown as EventObject[]).filter(
    (e) => e.involvedObject.kind === 'Rollout' && e.involvedObject.name === name,
  );

/** The reasons of the give-back's own Events (the engine's transitions have theirs too: not what these tests look at). */
const GIVE_BACK = [
  'GivenBack',
  'NotAvailable',
  'NotGivenBack',
  'RoutingNotGivenBack',
  'ScaledBack',
  'UnjudgedTemplate',
];

/** Which give-back Events kanari wrote on a Rollout, as `type reason`, sorted (two in one millisecond have no order). */
function events(name: string): string[] {
  return eventsOn(name)
    .filter((e) => GIVE_BACK.includes(e.reason))
    .map((e) => {
      validateObject(e);
      return `${e.type} ${e.reason}`;
    })
    .sort();
}

describe('deleting a Rollout', () => {
  it('with the replicas router, deleted while no operator runs: the next leader scales the workload back, then lets kanari’s versions go', async () => {
    await takenOver('web');
    const service = structuredClone(get('v1', 'Service', 'web')!.spec);
    await operator.stop();
    await deleteRollout('web');
    await sleep(500);
    assert.ok(rollout('web')?.metadata.deletionTimestamp, 'held by the finalizer while no operator runs');
    assert.equal(deployment('web')?.spec.replicas, 0);
    operator = startOperator('operator-2');
    await givenBack('web', 3);
    assert.deepEqual(get('v1', 'Service', 'web')!.spec, service);
    assert.deepEqual(events('web'), ['Normal GivenBack', 'Normal ScaledBack']);
  });

  it('with Istio, mid-release: the user’s VirtualService and DestinationRule end as written, and the unjudged template is a Warning', async () => {
    await takenOver('mesh');
    const written = [
      structuredClone(get('networking.istio.io/v1beta1', 'VirtualService', 'mesh')!),
      structuredClone(get('networking.istio.io/v1beta1', 'DestinationRule', 'mesh')!),
    ];
    await setImage(cluster.client, 'mesh', 'mesh:2');
    // The status says a weight before the router writes it: wait for kanari's routes themselves.
    await until('mesh:2 at 20% through kanari’s routes', () =>
      JSON.stringify(get('networking.istio.io/v1beta1', 'VirtualService', 'mesh')!.spec).includes('"weight":20'),
    );
    await deleteRollout('mesh');
    await givenBack('mesh', 2);
    for (const object of written)
      assert.deepEqual(get(object.apiVersion, object.kind, 'mesh')!.spec, object.spec, `${object.kind} as written`);
    assert.deepEqual(events('mesh'), ['Normal GivenBack', 'Normal ScaledBack', 'Warning UnjudgedTemplate']);
    const warning = eventsOn('mesh').find((e) => e.reason === 'UnjudgedTemplate');
    assert.match(
      warning!.message,
      new RegExp(`version ${versionOf(appTemplate('mesh', 'mesh:2'))}, which was being released`),
    );
    assert.deepEqual(deployment('mesh')!.spec.template, appTemplate('mesh', 'mesh:2'), 'the template as written');
  });

  it('with nginx, mid-release: the Service selects as written and the canary Ingress is gone', async () => {
    await takenOver('edge');
    await until(
      'the Service narrowed to stable',
      () => get('v1', 'Service', 'edge')!.spec.selector['kanari.dev/version'],
    );
    await setImage(cluster.client, 'edge', 'edge:2');
    await until('edge:2 at 20% through the canary Ingress', () =>
      Boolean(get('networking.k8s.io/v1', 'Ingress', 'edge-kanari-canary')),
    );
    await deleteRollout('edge');
    await givenBack('edge', 2);
    assert.deepEqual(get('v1', 'Service', 'edge')!.spec.selector, { app: 'edge' });
    assert.deepEqual(get('networking.k8s.io/v1', 'Ingress', 'edge')!.spec, INGRESS.spec);
    assert.equal(get('networking.k8s.io/v1', 'Ingress', 'edge-kanari-canary'), undefined);
    assert.deepEqual(events('edge'), ['Normal GivenBack', 'Normal ScaledBack', 'Warning UnjudgedTemplate']);
  });

  it('with the Gateway API, mid-release: the user’s HTTPRoute and Service end as written', async () => {
    await takenOver('gw');
    const written = structuredClone(get('gateway.networking.k8s.io/v1', 'HTTPRoute', 'gw')!.spec);
    await until(
      'the Service narrowed to stable',
      () => get('v1', 'Service', 'gw')!.spec.selector['kanari.dev/version'],
    );
    await setImage(cluster.client, 'gw', 'gw:2');
    await until('gw:2 at 20% through kanari’s rules', () =>
      JSON.stringify(get('gateway.networking.k8s.io/v1', 'HTTPRoute', 'gw')!.spec).includes('kanari-gw-0'),
    );
    await deleteRollout('gw');
    await givenBack('gw', 2);
    assert.deepEqual(get('gateway.networking.k8s.io/v1', 'HTTPRoute', 'gw')!.spec, written);
    assert.deepEqual(get('v1', 'Service', 'gw')!.spec.selector, { app: 'gw' });
    assert.deepEqual(events('gw'), ['Normal GivenBack', 'Normal ScaledBack', 'Warning UnjudgedTemplate']);
  });

  it('a namespace deleted with a Rollout in it goes: the finalizer does not wait for a workload that is gone', async () => {
    const { client } = cluster;
    await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'doomed' } });
    await client.create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'app', namespace: 'doomed' },
      spec: { replicas: 2, selector: { matchLabels: { app: 'app' } }, template: appTemplate('app', 'app:1') },
    });
    await client.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'app', namespace: 'doomed' },
      spec: { selector: { app: 'app' }, ports: [{ port: 80 }] },
    });
    await client.create({
      ...rolloutOf('app', { replicas: {} }, [{ setWeight: 50 }]),
      metadata: { name: 'app', namespace: 'doomed' },
    });
    const inDoomed = (apiVersion: string, kind: string, name: string) =>
      cluster.api.get(apiVersion, kind, 'doomed', name);
    await until('app taken over', () => inDoomed('apps/v1', 'Deployment', 'app')?.spec.replicas === 0);
    await client.delete({ apiVersion: 'v1', kind: 'Namespace', name: 'doomed' });
    await until('the namespace gone', () => !cluster.api.get('v1', 'Namespace', undefined, 'doomed'));
  });

  it('a Rollout the operator refused has no finalizer, and goes at once', async () => {
    await cluster.client.create(
      rolloutOf('mirrored', { replicas: {} }, [{ setMirror: { percent: 10 } }, { setWeight: 50 }]),
    );
    await until('refused', () => /refused/.test(rollout('mirrored')?.status?.message ?? ''));
    assert.equal(rollout('mirrored')!.metadata.finalizers, undefined);
    await deleteRollout('mirrored');
    assert.equal(rollout('mirrored'), undefined);
  });
});
