/**
 * The kubernetes target against an in-memory API (test/helpers/kube/ingress-fake.ts): what
 * it writes is valid, it adopts what it made, refuses what it did not make, and reports
 * progress and exits. Runs in well under a second (20 ms polls).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Service } from 'kubernetes-models/v1';
import { KubernetesTarget, type KubernetesTargetOptions } from '../../src/targets/kubernetes.js';
import type { TargetSpec } from '../../src/config/schemas/rollout.js';
import type { TargetEvents } from '../../src/rollout/seams/targets.js';
import { FakeKube } from '../helpers/kube/ingress-fake.js';
import { deploymentTargetConformance } from '../conformance/deployment-target.js';
import { template, userService } from '../helpers/kube/ingress-fixtures.js';

const owner = { apiVersion: 'kanari.dev/v1alpha1', kind: 'Rollout', name: 'shop', uid: 'rollout-uid' };
const spec = (size: number): TargetSpec => ({
  kubernetes: { template, service: 'web', namespace: 'prod', replicas: size },
  size,
});
const ref = (kind: 'Deployment' | 'Service', name: string) => ({
  apiVersion: kind === 'Service' ? 'v1' : 'apps/v1',
  kind,
  namespace: 'prod',
  name,
});

function world(o: Partial<KubernetesTargetOptions> = {}) {
  const kube = new FakeKube();
  kube.put(userService);
  const exits: string[] = [];
  const events: TargetEvents = { exited: (id, why) => exits.push(`${id}: ${why}`), save: (w) => w() };
  const make = (more: Partial<KubernetesTargetOptions> = {}) =>
    new KubernetesTarget({
      client: kube,
      namespace: 'prod',
      owner,
      rollout: 'shop',
      events,
      pollMs: 20,
      ...o,
      ...more,
    });
  return { kube, exits, target: make(), make };
}

const request = (id: string, size: number) => ({ id, version: id, target: spec(size), size });

deploymentTargetConformance('kubernetes (in-memory API)', (events) => {
  const kube = new FakeKube();
  kube.put(userService);
  kube.autoReady = true;
  const target = new KubernetesTarget({ client: kube, namespace: 'prod', owner, rollout: 'shop', events, pollMs: 20 });
  return Promise.resolve({ target, spec, oneAddress: true, close: () => Promise.resolve() });
});

describe('the kubernetes target', () => {
  it('creates a valid Deployment and Service, and is starting until the pods are ready', async () => {
    const { kube, target } = world();
    const ready = target.ensure(request('v2', 2));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(target.readiness('v2'), { state: 'starting' });
    new Deployment(kube.peek(ref('Deployment', 'shop-v2')) as never).validate();
    new Service(kube.peek(ref('Service', 'shop-v2')) as never).validate();
    kube.settle();
    await ready;
    assert.deepEqual(target.readiness('v2'), { state: 'ready', endpoints: ['shop-v2.prod.svc:80'], size: 2 });
    assert.deepEqual(kube.writes, ['create Service prod/shop-v2', 'create Deployment prod/shop-v2']);
    target.detach();
  });

  it('adopts what a previous operator made without writing it again', async () => {
    const { kube, target, make } = world();
    kube.autoReady = true;
    await target.ensure(request('v2', 2));
    target.detach();
    const next = make();
    await next.ensure(request('v2', 2));
    assert.equal(next.readiness('v2').state, 'ready');
    assert.equal(kube.writes.length, 2);
    next.detach();
  });

  it("refuses to adopt or remove a Deployment that is not this Rollout's, and writes nothing", async () => {
    const { kube, target } = world();
    const theirs = kube.put({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'shop-v2', namespace: 'prod' },
    });
    await assert.rejects(target.ensure(request('v2', 1)), /Deployment prod\/shop-v2 exists and is not this Rollout's/);
    await assert.rejects(target.remove('v2'), /is not this Rollout's/);
    // Made by kanari for a Rollout of the same name that was deleted: not this one's either.
    kube.put({
      ...theirs,
      metadata: {
        name: 'shop-v2',
        namespace: 'prod',
        labels: { 'app.kubernetes.io/managed-by': 'kanari', 'kanari.dev/rollout': 'shop' },
        ownerReferences: [{ ...owner, uid: 'an-older-rollout' }],
      },
    });
    await assert.rejects(target.remove('v2'), /is not this Rollout's/);
    assert.deepEqual(kube.writes, []);
    assert.deepEqual(target.readiness('v2'), { state: 'absent' });
  });

  it('removes both objects with a uid precondition, and an absent one quietly', async () => {
    const { kube, target } = world();
    kube.autoReady = true;
    await target.ensure(request('v2', 1));
    await target.remove('v2');
    assert.deepEqual(target.readiness('v2'), { state: 'absent' });
    assert.equal(kube.peek(ref('Deployment', 'shop-v2')), undefined);
    assert.equal(kube.peek(ref('Service', 'shop-v2')), undefined);
    await target.remove('v9');
  });

  it('rejects with the reason when the Deployment misses its progress deadline, and is absent after', async () => {
    const { kube, target } = world();
    const started = target.ensure(request('v2', 1));
    await new Promise((r) => setTimeout(r, 50));
    const d = kube.peek(ref('Deployment', 'shop-v2'))!;
    kube.put({
      ...d,
      status: {
        observedGeneration: 5,
        conditions: [
          { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'timed out' },
        ],
      },
    });
    await assert.rejects(started, /shop-v2: timed out \(ProgressDeadlineExceeded\)/);
    assert.deepEqual(target.readiness('v2'), { state: 'absent' });
  });

  it('gives up after its start timeout, saying what it saw', async () => {
    const { target } = world({ startTimeoutMs: 150 });
    await assert.rejects(target.ensure(request('v2', 3)), /did not reach 3 ready pods in time \(0 of 3 pods ready\)/);
  });

  it('refuses when the user Service is missing or has no ports', async () => {
    const { kube, target } = world();
    kube.put({ ...userService, spec: { selector: { app: 'shop' } } });
    await assert.rejects(target.ensure(request('v2', 1)), /Service web has no "spec.ports"/);
    await assert.rejects(
      target.ensure({
        ...request('v2', 1),
        target: { ...spec(1), kubernetes: { ...spec(1).kubernetes!, service: 'nope' } },
      }),
      /Service prod\/nope does not exist/,
    );
  });

  it('reports an exit when a running version’s Deployment is deleted', async () => {
    const { kube, target, exits } = world();
    kube.autoReady = true;
    await target.ensure(request('v2', 1));
    await kube.delete(ref('Deployment', 'shop-v2'));
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(exits, ['v2: its Deployment shop-v2 was deleted']);
    assert.deepEqual(target.readiness('v2'), { state: 'absent' });
  });

  it('under the replicas router, starts a second version with no pods and never resizes', async () => {
    const { kube, target } = world({ sizedBy: 'traffic' });
    kube.autoReady = true;
    assert.equal(target.resizes, false);
    await target.ensure(request('v1', 4));
    await target.ensure(request('v2', 4));
    const pods = (name: string) => (kube.peek(ref('Deployment', name))!.spec as { replicas: number }).replicas;
    assert.equal(pods('shop-v1'), 4);
    assert.equal(pods('shop-v2'), 0);
    assert.deepEqual(target.readiness('v2'), { state: 'ready', endpoints: ['shop-v2.prod.svc:80'], size: 0 });
    await assert.rejects(target.resize('v2', 2), /the replicas router sets its pods/);
    target.detach();
  });
});
