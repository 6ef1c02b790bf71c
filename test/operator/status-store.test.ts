/**
 * The status store on a Rollout resource of the test API server: a saved status reaches
 * the status subresource (with the columns and conditions people read), `durable()` says
 * when, a user's spec edit in between is not a reason to stop, nor the old leader's last
 * write (an earlier lease term) landing after the new leader read the resource; a later
 * term's stamp, or another replica's of the same term, is: the store stops writing and says
 * it lost the rollout. A write the lease's fence refuses closes the store, as `close()` does:
 * what it held is never written, not even once the fence would let it through again.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { refOf, type KubeClient, type KubeObject } from '../../src/kube/api.js';
import { fencedClient } from '../../src/kube/lease.js';
import { initialStatus } from '../../src/rollout/machine.js';
import { KubeStatusStore, RUN_WRITE_MS } from '../../src/store/kubernetes.js';
import { KubeRunStore } from '../../src/store/kubernetes-runs.js';
import { AnalysisRun } from '../../src/analysis/run.js';
import type { CountSource, CountWindow } from '../../src/analysis/providers/counts.js';
import { analysisTemplateSpec } from '../../src/config/schemas/analysis.js';
import { presetCounts } from '../../src/config/presets/counts.js';
import { doc } from '../helpers/engine-world.js';
import { ROLLOUT_CRD, startCluster, type TestCluster } from '../helpers/kube/cluster.js';

let cluster: TestCluster;
before(async () => {
  cluster = await startCluster();
  await cluster.client.create(ROLLOUT_CRD);
});
after(() => cluster.close());

const spec = doc([{ setWeight: 20 }]).spec;

async function rollout(name: string): Promise<KubeObject> {
  return cluster.client.create({
    apiVersion: 'kanari.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name, namespace: 'default' },
    spec: { workloadRef: { name } },
  });
}

function open(resource: KubeObject, identity = 'a', term?: number, client: KubeClient = cluster.client) {
  const lost: string[] = [];
  const store = new KubeStatusStore({
    client,
    resource,
    identity,
    ...(term === undefined ? {} : { term }),
    onLost: (why) => lost.push(why),
    log: () => {},
  });
  store.putRollout({ name: resource.metadata.name, document: {}, templates: {}, status: initialStatus(spec, 1000) });
  return { store, lost };
}

/** Whether `store` writes everything saved so far within `ms` (a store that stopped never does). */
const durableWithin = (store: KubeStatusStore, ms = 10_000) =>
  Promise.race([store.durable().then(() => 'durable'), new Promise((r) => setTimeout(() => r('pending'), ms))]);

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const statusOf = (name: string) => cluster.api.get('kanari.dev/v1alpha1', 'Rollout', 'default', name)?.status;

describe('the status store on a Rollout resource', () => {
  it('writes each saved status behind, with its columns and conditions, and says when it is durable', async () => {
    const { store } = open(await rollout('one'));
    await store.durable();
    assert.equal(statusOf('one').phase, 'StableOnly');
    assert.equal(statusOf('one').weight, 0);
    const healthy = statusOf('one').conditions.find((c: { type: string }) => c.type === 'Healthy');
    assert.equal(healthy.status, 'True');
    const moving = { ...initialStatus(spec, 2000), phase: 'SmallTraffic' as const, message: 'canary at 20%' };
    moving.traffic = { ...moving.traffic, weights: { canary: 20, baseline: 0 } };
    store.saveTransition('one', [], moving);
    assert.notEqual(statusOf('one').phase, 'SmallTraffic', 'behind: not written yet when saveTransition returns');
    await store.durable();
    assert.equal(statusOf('one').phase, 'SmallTraffic');
    assert.equal(statusOf('one').weight, 20);
    assert.equal(statusOf('one').state.message, 'canary at 20%');
    assert.equal(statusOf('one').writer.identity, 'a');
    const progressing = statusOf('one').conditions.find((c: { type: string }) => c.type === 'Progressing');
    assert.equal(progressing.status, 'True');
  });

  it('writes on after a user changed the spec under it (a conflict that is not a lost rollout)', async () => {
    const resource = await rollout('two');
    const { store, lost } = open(resource);
    await store.durable();
    const now = await cluster.client.get(refOf(resource));
    await cluster.client.replace({ ...now!, spec: { workloadRef: { name: 'two' }, replicas: 3 } });
    store.saveTransition('two', [], { ...initialStatus(spec, 3000), message: 'after the edit' });
    await store.durable();
    assert.equal(statusOf('two').state.message, 'after the edit');
    assert.deepEqual(lost, []);
  });

  it('stops writing once another replica has written the status, and says so', async () => {
    const resource = await rollout('three');
    const { store, lost } = open(resource);
    await store.durable();
    const now = await cluster.client.get(refOf(resource));
    await cluster.client.replace(
      { ...now!, status: { ...now!.status!, writer: { identity: 'b', seq: 1 }, message: 'b was here' } },
      { status: true },
    );
    store.saveTransition('three', [], { ...initialStatus(spec, 4000), message: 'a, too late' });
    const settled = await Promise.race([
      store.durable().then(() => 'durable'),
      new Promise((r) => setTimeout(() => r('pending'), 500)),
    ]);
    assert.equal(settled, 'pending', 'never durable: it was not written');
    assert.equal(lost.length, 1);
    assert.match(lost[0]!, /replica b has written its status since/);
    assert.equal(statusOf('three').message, 'b was here');
  });

  it('takes a rollout over from the last leader’s stamp: a user’s edit before its first write is retried, not read as a rival', async () => {
    const resource = await rollout('four');
    const first = open(resource, 'old-leader');
    await first.store.durable();
    // The new leader read the resource (with the old leader's stamp); then a user edited it.
    const read = (await cluster.client.get(refOf(resource)))!;
    await cluster.client.replace({ ...read, spec: { workloadRef: { name: 'four' }, replicas: 2 } });
    const { store, lost } = open(read, 'new-leader');
    const settled = await Promise.race([
      store.durable().then(() => 'durable'),
      new Promise((r) => setTimeout(() => r('pending'), 5000)),
    ]);
    assert.deepEqual(lost, []);
    assert.equal(settled, 'durable');
    assert.equal(statusOf('four').writer.identity, 'new-leader');
  });

  for (const [what, terms] of [
    ['of an earlier lease term', [1, 2]],
    ['written before terms (kanari upgraded mid-rollout)', [undefined, 2]],
    ['written before terms, by leaders both without one', [undefined, undefined]],
  ] as const)
    it(`takes over from the old leader’s last write, ${what}, that landed after it read the resource, rather than stop`, async () => {
      const name = `late-${terms.map((t) => t ?? 'none').join('-')}`;
      const resource = await rollout(name);
      const old = open(resource, 'old-leader', terms[0]);
      await old.store.durable();
      // The new leader reads the resource; the old leader's last write, in flight as its lease passed, lands after.
      const read = (await cluster.client.get(refOf(resource)))!;
      old.store.saveTransition(name, [], { ...initialStatus(spec, 5000), message: 'the old leader, late' });
      await old.store.durable();
      assert.equal(statusOf(name).state.message, 'the old leader, late');
      const { store, lost } = open(read, 'new-leader', terms[1]);
      store.saveTransition(name, [], { ...initialStatus(spec, 6000), message: 'the new leader' });
      assert.equal(await durableWithin(store), 'durable');
      assert.deepEqual(lost, []);
      assert.equal(statusOf(name).state.message, 'the new leader');
      assert.deepEqual(
        { ...statusOf(name).writer, seq: 0 },
        { identity: 'new-leader', ...(terms[1] === undefined ? {} : { term: terms[1] }), seq: 0 },
      );
      // The old leader, writing once more, finds the new leader's stamp: it stops, and writes nothing over it.
      old.store.saveTransition(name, [], { ...initialStatus(spec, 7000), message: 'the old leader, later still' });
      await until('the old leader stops', () => old.lost.length > 0);
      assert.match(old.lost[0]!, /replica new-leader has written its status since/);
      assert.equal(statusOf(name).state.message, 'the new leader');
    });

  for (const [what, rival] of [
    ['another replica of the same term', { identity: 'c', term: 2 }],
    ['a later term', { identity: 'c', term: 3 }],
    ['the old leader in a later term (it led again)', { identity: 'old-leader', term: 3 }],
  ] as const)
    it(`stops writing once ${what} has written the status`, async () => {
      const name = `rival-${rival.identity}-${rival.term}`;
      const resource = await rollout(name);
      const old = open(resource, 'old-leader', 1);
      await old.store.durable();
      const read = (await cluster.client.get(refOf(resource)))!;
      await cluster.client.replace(
        { ...read, status: { ...read.status!, writer: { ...rival, seq: 1 }, message: 'the rival' } },
        { status: true },
      );
      const { store, lost } = open(read, 'new-leader', 2);
      await until('the new leader stops', () => lost.length > 0);
      assert.equal(await durableWithin(store, 200), 'pending', 'never durable: it was not written');
      assert.match(lost[0]!, new RegExp(`replica ${rival.identity} has written its status since`));
      assert.equal(statusOf(name).message, 'the rival');
    });

  it("keeps a running analysis's judge state in status.runs, so another replica resumes the test where it was", async () => {
    // The template the operator builds for the default judge (compose.ts): counts from a Prometheus preset.
    const base = analysisTemplateSpec.parse({ sequential: {} });
    const source = presetCounts('istio', {
      address: 'http://prometheus:9090',
      namespace: 'default',
      versions: {},
      timeout: 5000,
    });
    const spec = { ...base, sequential: { ...base.sequential!, source: { prometheus: source } } };
    // Each window: 100 canary and 400 stable requests, 1 and 4 errors.
    const second = (end: number): CountWindow => ({
      start: end - 1000,
      end,
      versions: {
        canary: { requests: 100, errors: 1 },
        stable: { requests: 400, errors: 4 },
        baseline: { requests: 0, errors: 0 },
      },
    });
    const counts: CountSource = {
      name: 'prometheus',
      windows: async (after, until) => {
        const windows: CountWindow[] = [];
        for (let end = after + 1000; end <= until; end += 1000) windows.push(second(end));
        return { kind: 'value', windows };
      },
    };
    const env = { source: { query: () => Promise.reject(new Error('unused')), counts: () => counts } };
    const resource = await rollout('judged');
    const first = open(resource);
    const runs = new KubeRunStore(first.store);
    const run = AnalysisRun.start('sequential', spec, 'step', 10_000, env);
    const save = (now: number) => {
      const { state, added } = run.persisted(0);
      runs.saveRun('judged', 1, 'r1', state, run.report(), now, { from: 0, items: added });
    };
    await run.tick(13_000);
    save(13_000);
    await first.store.durable();
    assert.equal(statusOf('judged').runs.r1.through, 13_000, 'a run that starts is written with the next write');
    await run.tick(15_000);
    save(15_000);
    await first.store.durable();
    assert.equal(statusOf('judged').runs.r1.through, 13_000, `a run that only moved on waits up to ${RUN_WRITE_MS} ms`);
    save(13_000 + RUN_WRITE_MS);
    await first.store.durable();
    assert.equal(statusOf('judged').runs.r1.through, 15_000);
    assert.deepEqual(statusOf('judged').runs.r1.measurements, [], 'measurements stay in memory');

    // Another replica (a new leader) reads the resource as it is now.
    const reread = await cluster.client.get(refOf(resource));
    const b = open(reread!, 'b').store;
    const next = new KubeRunStore(b);
    const saved = next.run('judged', 'r1');
    assert.ok(saved, 'the new leader finds the run');
    const resumed = AnalysisRun.resume(saved.state, env);
    assert.equal(resumed.toJSON().through, 15_000);
    assert.equal(resumed.toJSON().sequential?.canaryRequests, 500, 'the judge goes on with the evidence it had');
    await resumed.tick(17_000);
    assert.equal(resumed.toJSON().sequential?.canaryRequests, 700, 'and counts only what came after');

    // A run that ends leaves status.runs at once.
    const { state } = resumed.persisted(0);
    next.saveRun('judged', 1, 'r1', { ...state, endedAt: 17_000 }, resumed.report(), 17_000, { from: 0, items: [] });
    await new Promise((r) => setImmediate(r));
    await b.durable();
    assert.equal(statusOf('judged').runs, undefined);
    assert.equal(next.run('judged', 'r1')?.state.endedAt, 17_000, 'kept in memory for its report');
  });

  it('reads status.runs a person edited into any shape as no run to resume, never a crash', async () => {
    for (const runs of [
      null,
      'x',
      [1],
      { r1: null },
      { r1: { template: 1 } },
      { r1: { template: 't', startedAt: 1, through: 2, spec: { sequential: 'no' } } },
    ]) {
      const resource = { ...(await rollout(`edited-${Math.random().toString(36).slice(2, 8)}`)) };
      resource.status = { runs };
      const { store } = open(resource);
      assert.equal(store.runState('r1'), undefined, JSON.stringify(runs));
    }
  });
  it('writes nothing more once the fence refused a write, even when the fence would let it through again', async () => {
    let holds = true;
    const { store } = open(
      await rollout('fenced'),
      'a',
      3,
      fencedClient(cluster.client, () => holds),
    );
    await store.durable();
    const written = statusOf('fenced').writer;
    holds = false;
    const computed = { ...initialStatus(spec, 2000), phase: 'Rollback' as const, message: 'computed from a refusal' };
    store.saveTransition('fenced', [], computed);
    assert.equal(await durableWithin(store, 500), 'pending');
    holds = true; // as if the same replica led again (a later leadership would have a new fence)
    store.saveTransition('fenced', [], { ...computed, message: 'and one more change' });
    assert.equal(await durableWithin(store, 500), 'pending');
    assert.deepEqual(statusOf('fenced').writer, written, 'the resource holds the last write before the refusal');
    assert.equal(statusOf('fenced').state.phase, 'StableOnly');
  });

  it('writes nothing once closed (after a last write of what it held)', async () => {
    const { store } = open(await rollout('closed'));
    await store.durable();
    store.saveTransition('closed', [], { ...initialStatus(spec, 2000), phase: 'SmallTraffic' as const });
    await store.close();
    assert.equal(statusOf('closed').state.phase, 'SmallTraffic', 'what it held when closed');
    store.saveTransition('closed', [], { ...initialStatus(spec, 3000), phase: 'Rollback' as const });
    assert.equal(await durableWithin(store, 500), 'pending');
    assert.equal(statusOf('closed').state.phase, 'SmallTraffic');
  });

  it('leaves a change made as the write before it closed lands (the same turn)', async () => {
    let open_ = () => {};
    let gate: Promise<void> | undefined;
    const gated = Object.assign(Object.create(cluster.client) as KubeClient, {
      replace: async (o: KubeObject, options?: { status?: boolean }) => {
        await gate;
        return cluster.client.replace(o, options);
      },
    });
    const { store } = open(await rollout('closing'), 'a', undefined, gated);
    await store.durable();
    gate = new Promise<void>((resolve) => (open_ = resolve));
    store.saveTransition('closing', [], { ...initialStatus(spec, 2000), phase: 'SmallTraffic' as const });
    await new Promise((resolve) => setImmediate(resolve)); // its write is on its way
    const closing = store.close();
    void store
      .flush()
      .then(() => store.saveTransition('closing', [], { ...initialStatus(spec, 3000), phase: 'Rollback' as const }));
    gate = undefined;
    open_();
    await closing;
    assert.equal(statusOf('closing').state.phase, 'Rollback', 'the change made before close() returned');
  });
});
