/**
 * The steps of giving a deleted Rollout's workload and routing back, one call at a time on
 * the test API server (whose Deployments here never become ready), with the clock before
 * and past the Rollout's progressDeadline: waiting while it is worth it, a Warning and the
 * finalizer removed all the same past it; another controller's finalizer kept; a Rollout
 * edited into any shape, or whose workload is gone, never blocks its deletion. And the
 * finalizer itself: added beside others, at the version read, writing nothing else.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConflict, type KubeObject } from '../../src/kube/api.js';
import type { EventNote } from '../../src/kube/events.js';
import { addCleanupFinalizer, CLEANUP_FINALIZER, giveBack, REPLICAS_ANNOTATION } from '../../src/operator/give-back.js';
import { versionLabels, versionSelector } from '../../src/kube/versions.js';
import { versionOf } from '../../src/operator/release.js';
import { kubernetesTrafficRouter } from '../../src/traffic/kubernetes/index.js';
import { ROLLOUT_CRD, startCluster, type TestCluster } from '../helpers/kube/cluster.js';
import { validateObject } from '../helpers/kube/models.js';

let cluster: TestCluster;
const ROLLOUT = { apiVersion: 'kanari.dev/v1alpha1', kind: 'Rollout', namespace: 'default' };
const LATER = 60 * 60_000;

before(async () => {
  // No Deployment becomes ready within a test: what a workload that cannot start looks like.
  cluster = await startCluster({ deploymentReadyDelayMs: 600_000 });
  await cluster.client.create(ROLLOUT_CRD);
  await new Promise((resolve) => setTimeout(resolve, 100)); // the CRD established
});

after(() => cluster.close());

/** A Rollout kanari ran (it has the finalizer), now deleted: marked, held by its finalizers. */
async function deletedRollout(
  name: string,
  spec: unknown,
  finalizers = [CLEANUP_FINALIZER],
  status?: object,
): Promise<void> {
  await cluster.client.create({ ...ROLLOUT, metadata: { name, namespace: 'default', finalizers }, spec });
  if (status) await cluster.client.patch({ ...ROLLOUT, name }, 'merge', { status }, { status: true });
  await cluster.client.delete({ ...ROLLOUT, name });
}

const templateOf = (app: string) => ({
  metadata: { labels: { app } },
  spec: { containers: [{ name: 'app', image: `${app}:1` }] },
});

/** The user's Deployment as kanari holds it: at zero, its size in the annotation. */
async function heldWorkload(name: string, size: string): Promise<void> {
  await cluster.client.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default', annotations: { [REPLICAS_ANNOTATION]: size } },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: name } },
      template: templateOf(name),
    },
  });
}

/** What a `kubectl replace` of the Deployment without kanari's annotation does. */
const loseSize = (name: string) =>
  cluster.client.patch({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'default', name }, 'merge', {
    metadata: { annotations: { [REPLICAS_ANNOTATION]: null } },
  });

const spec = (name: string, trafficRouting: object = { replicas: {} }) => ({
  workloadRef: { name },
  service: { name },
  trafficRouting,
  progressDeadline: '10m',
  strategy: { canary: { steps: [{ setWeight: 50 }] } },
});

interface EventObject {
  metadata: { name: string };
  involvedObject: { name: string };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}
const eventsOn = (name: string) =>
  (cluster.api.objects('v1', 'Event', 'default') as unknown as EventObject[]).filter(
    (e) => e.involvedObject.name === name,
  );

/** One reconcile of a deleted Rollout, `ms` from now: the Events it wrote (in the order logged) and its log lines. */
async function step(name: string, ms = 0): Promise<{ notes: EventNote[]; said: string[] }> {
  const resource = cluster.api.get(ROLLOUT.apiVersion, 'Rollout', 'default', name) as KubeObject;
  const before = new Set(eventsOn(name).map((e) => e.metadata.name));
  const logged: string[] = [];
  const said: string[] = [];
  await giveBack(resource, {
    client: cluster.client,
    identity: 'operator-test',
    traffic: (rollout, at) => kubernetesTrafficRouter(rollout, { client: cluster.client, ...at }),
    log: (line) => logged.push(line),
    say: (line) => said.push(line),
    now: () => Date.now() + ms,
  });
  const written = eventsOn(name).filter((e) => !before.has(e.metadata.name));
  for (const e of written) validateObject(e);
  const notes = logged.map((line) => {
    const [, reason, message] = /^default\/[^:]+: (\w+): (.*)$/s.exec(line) ?? [];
    const event = written.find((e) => e.reason === reason && e.message === message);
    assert.ok(event, `an Event for the log line ${line}`);
    return { type: event.type, reason: event.reason, message: event.message };
  });
  assert.equal(notes.length, written.length, 'every Event is logged');
  return { notes, said };
}

const reasons = (notes: EventNote[]) => notes.map((n) => `${n.type} ${n.reason}`);
const rollout = (name: string) => cluster.api.get(ROLLOUT.apiVersion, 'Rollout', 'default', name);
const deployment = (name: string) => cluster.api.get('apps/v1', 'Deployment', 'default', name);

describe('the finalizer', () => {
  it('is added beside another controller’s, at the version read, writing nothing else', async () => {
    const created = await cluster.client.create({
      ...ROLLOUT,
      metadata: { name: 'fresh', namespace: 'default', labels: { team: 'a' }, finalizers: ['example.com/audit'] },
      spec: spec('fresh'),
    });
    const added = await addCleanupFinalizer(cluster.client, created);
    assert.deepEqual(added.metadata.finalizers, ['example.com/audit', CLEANUP_FINALIZER]);
    assert.deepEqual([added.metadata.labels, added.spec], [created.metadata.labels, created.spec]);
    assert.equal(await addCleanupFinalizer(cluster.client, added), added, 'there already: nothing written');
    await assert.rejects(addCleanupFinalizer(cluster.client, created), KubeConflict, 'a stale read is refused');
  });
});

describe('giving a deleted Rollout back', () => {
  it('scales the workload back, waits for it until the deadline, then says it is not available and lets the Rollout go, keeping another finalizer', async () => {
    await heldWorkload('slow', '3');
    await deletedRollout('slow', spec('slow'), ['example.com/audit', CLEANUP_FINALIZER]);
    assert.deepEqual(reasons((await step('slow')).notes), ['Normal ScaledBack']);
    assert.equal(deployment('slow')!.spec.replicas, 3);
    const waiting = await step('slow');
    assert.deepEqual(waiting.notes, []);
    assert.match(waiting.said[0]!, /waiting for Deployment default\/slow to serve .*0 of 3 pods ready/);
    assert.deepEqual(rollout('slow')!.metadata.finalizers, ['example.com/audit', CLEANUP_FINALIZER]);
    const late = await step('slow', LATER);
    assert.deepEqual(reasons(late.notes), ['Warning NotAvailable', 'Normal GivenBack']);
    assert.match(late.notes[0]!.message, /0 of 3 pods ready after the progressDeadline/);
    assert.deepEqual(rollout('slow')!.metadata.finalizers, ['example.com/audit'], 'only kanari’s finalizer removed');
    assert.equal(deployment('slow')!.metadata.annotations?.[REPLICAS_ANNOTATION], undefined);
    assert.equal(deployment('slow')!.spec.replicas, 3);
  });

  it('a size annotation edited into nonsense: the Rollout’s replicas, said in the Event', async () => {
    await heldWorkload('edited', 'lots');
    await deletedRollout('edited', { ...spec('edited'), replicas: 2 });
    const { notes } = await step('edited');
    assert.equal(deployment('edited')!.spec.replicas, 2);
    assert.match(
      notes[0]!.message,
      /back to 2 replicas \(its kanari.dev\/workload-replicas annotation "lots" is not a size; the size is a guess/,
    );
  });

  it('a size annotation taken off by hand: held all the same, as big as kanari’s stable version, and waited for', async () => {
    await heldWorkload('lost', '1');
    await loseSize('lost');
    const v1 = versionOf(templateOf('lost'));
    await cluster.client.create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: `lost-${v1}`, namespace: 'default', labels: versionLabels('lost', v1) },
      spec: {
        replicas: 4,
        selector: { matchLabels: versionSelector('lost', v1) },
        template: { metadata: { labels: versionSelector('lost', v1) } },
      },
    });
    await deletedRollout('lost', spec('lost'), [CLEANUP_FINALIZER], {
      state: { phase: 'StableOnly', stable: { version: v1 } },
    });
    const { notes } = await step('lost');
    assert.deepEqual(reasons(notes), ['Warning ScaledBack']);
    assert.match(notes[0]!.message, /back to 4 replicas \(its kanari.dev\/workload-replicas annotation was taken off/);
    assert.equal(deployment('lost')!.spec.replicas, 4);
    assert.match((await step('lost')).said[0]!, /waiting for Deployment default\/lost/);
  });

  it('a lost size and a status edited to name no version Kubernetes could have: a size of 1, never a crash', async () => {
    await heldWorkload('odd', '1');
    await loseSize('odd');
    await deletedRollout('odd', spec('odd'), [CLEANUP_FINALIZER], {
      state: { phase: 'StableOnly', stable: { version: '../../namespaces/kube-system' } },
    });
    assert.deepEqual(reasons((await step('odd')).notes), ['Warning ScaledBack', 'Warning UnjudgedTemplate']);
    assert.equal(deployment('odd')!.spec.replicas, 1);
  });

  it('a Deployment at zero before kanari (its stable version had none either) stays at zero', async () => {
    await heldWorkload('idle', '0');
    await deletedRollout('idle', spec('idle'));
    assert.deepEqual(reasons((await step('idle')).notes), ['Normal GivenBack']);
    assert.equal(deployment('idle')!.spec.replicas, 0);
    assert.equal(rollout('idle'), undefined);
  });

  it('a Rollout whose plan was edited past parsing is still given back: only its workload and routing are read', async () => {
    await heldWorkload('planless', '2');
    await deletedRollout('planless', { ...spec('planless'), strategy: { canary: { steps: [{ setWeight: 'lots' }] } } });
    assert.deepEqual(reasons((await step('planless')).notes), ['Normal ScaledBack']);
    assert.equal(deployment('planless')!.spec.replicas, 2);
  });

  it('a Rollout whose routing was edited past parsing still gives its workload back, waited for, and says the routing is left', async () => {
    await heldWorkload('unrouted', '2');
    await deletedRollout('unrouted', { ...spec('unrouted'), trafficRouting: 'everywhere' });
    assert.deepEqual(reasons((await step('unrouted')).notes), ['Normal ScaledBack']);
    assert.equal(deployment('unrouted')!.spec.replicas, 2, 'not left at zero while kanari’s versions go');
    assert.ok(rollout('unrouted'), 'the Rollout waits for the workload’s pods');
    const late = await step('unrouted', LATER);
    assert.deepEqual(reasons(late.notes), ['Warning NotAvailable', 'Warning RoutingNotGivenBack', 'Normal GivenBack']);
    assert.match(late.notes[1]!.message, /spec\.trafficRouting/);
    assert.equal(rollout('unrouted'), undefined);
  });

  it('a Rollout edited into an invalid spec: a Warning naming the field, and it goes', async () => {
    await deletedRollout('broken', { workloadRef: 5, trafficRouting: 'everywhere' });
    const { notes } = await step('broken');
    assert.deepEqual(reasons(notes), ['Warning NotGivenBack']);
    assert.match(notes[0]!.message, /the Rollout is not valid \(spec\.\S+: /);
    assert.equal(rollout('broken'), undefined);
  });

  it('a workload that is gone is not waited for', async () => {
    await deletedRollout('gone', spec('gone'));
    assert.deepEqual(reasons((await step('gone')).notes), ['Normal GivenBack']);
    assert.equal(rollout('gone'), undefined);
  });

  it('routing it cannot give back: retried until the deadline, then a Warning, and the Rollout goes', async () => {
    // An Ingress under the canary's name that kanari did not make: never deleted.
    await cluster.client.create({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'edge-kanari-canary', namespace: 'default' },
      spec: { rules: [] },
    });
    await deletedRollout('edge', spec('edge', { nginx: { ingress: 'edge' } }));
    const early = await step('edge');
    assert.deepEqual(early.notes, []);
    assert.match(
      early.said[0]!,
      /cannot give the routing back yet \(retrying\): .*not kanari's: it will not be deleted/,
    );
    assert.ok(rollout('edge'), 'held while it is worth retrying');
    const late = await step('edge', LATER);
    assert.deepEqual(reasons(late.notes), ['Warning RoutingNotGivenBack', 'Normal GivenBack']);
    assert.equal(rollout('edge'), undefined);
    assert.ok(
      cluster.api.get('networking.k8s.io/v1', 'Ingress', 'default', 'edge-kanari-canary'),
      'not kanari’s: kept',
    );
  });
});
