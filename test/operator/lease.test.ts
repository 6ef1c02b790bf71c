/**
 * Leader election on a Lease of the test API server, with kanari's HTTP client: one
 * holder at a time, a hand-over when the holder steps down, a holder that cannot renew
 * stops before another may start, a holder paused past its lease writes nothing when it
 * resumes, and each holder leads in a term of its own (the Lease's transitions).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeError, type KubeClient } from '../../src/kube/api.js';
import { fencedClient, LeaderElection, NotLeader } from '../../src/kube/lease.js';
import { startCluster, type TestCluster } from '../helpers/kube/cluster.js';

let cluster: TestCluster;
before(async () => (cluster = await startCluster()));
after(() => cluster.close());

/** Each test its own Lease. */
let test = 0;

const TIMES = { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 150 };

function candidate(identity: string, client: KubeClient = cluster.client, now?: () => number) {
  const events: string[] = [];
  const election = new LeaderElection({
    client,
    namespace: 'default',
    name: `lease-${test}`,
    identity,
    ...TIMES,
    ...(now ? { now } : {}),
    onStartedLeading: () => events.push('started'),
    onStoppedLeading: () => events.push('stopped'),
  });
  return { election, events };
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`${what} within ${ms} ms`);
    await sleep(25);
  }
}

describe('leader election on a Lease', () => {
  it('one holder at a time; a holder that steps down hands over at once', async () => {
    test++;
    const a = candidate('a');
    a.election.start();
    await until('a leads', () => a.election.holds());
    assert.equal(a.election.term, 0, 'the term a leads in: the Lease it made has had no other holder');
    const b = candidate('b');
    b.election.start();
    await sleep(TIMES.leaseDurationMs * 2);
    assert.equal(b.election.term, undefined, 'no term while it does not lead');
    assert.equal(b.election.holds(), false, 'b never leads while a renews');
    assert.deepEqual(b.events, []);
    const lease = cluster.api.get('coordination.k8s.io/v1', 'Lease', 'default', `lease-${test}`);
    assert.equal(lease?.spec.holderIdentity, 'a');
    await a.election.stop();
    assert.deepEqual(a.events, ['started', 'stopped']);
    await until('b leads soon after a gave the lease up', () => b.election.holds(), TIMES.leaseDurationMs);
    const taken = cluster.api.get('coordination.k8s.io/v1', 'Lease', 'default', `lease-${test}`);
    assert.equal(taken?.spec.holderIdentity, 'b');
    assert.equal(taken?.spec.leaseTransitions, 1);
    assert.equal(b.election.term, 1, 'a later term than a’s: what their writes are told apart by');
    assert.equal(a.election.term, undefined);
    await b.election.stop();
  });

  it('a holder that cannot renew stops before another may take the lease', async () => {
    test++;
    let broken = false;
    const flaky: KubeClient = {
      resource: (v, k) => cluster.client.resource(v, k),
      get: (ref) =>
        broken ? Promise.reject(new KubeError(0, 'Unreachable', 'network down')) : cluster.client.get(ref),
      list: (...args) => cluster.client.list(...args),
      create: (o) => cluster.client.create(o),
      replace: (o, opt) =>
        broken ? Promise.reject(new KubeError(0, 'Unreachable', 'network down')) : cluster.client.replace(o, opt),
      patch: (...args) => cluster.client.patch(...args),
      delete: (...args) => cluster.client.delete(...args),
      watch: (...args) => cluster.client.watch(...args),
    };
    const a = candidate('a', flaky);
    a.election.start();
    await until('a leads', () => a.election.holds());
    const b = candidate('b');
    b.election.start();
    broken = true;
    const cutAt = Date.now();
    await until('a stops leading', () => a.events.includes('stopped'));
    await until('b leads', () => b.election.holds());
    // a stopped within its renew deadline (plus a retry), b started only after a whole lease duration.
    assert.ok(a.events.includes('stopped'));
    assert.ok(Date.now() - cutAt >= TIMES.leaseDurationMs - TIMES.retryPeriodMs, 'b waited out the lease');
    await a.election.stop();
    await b.election.stop();
  });

  it('a holder paused past its lease writes nothing when it resumes', async () => {
    test++;
    let skew = 0;
    const a = candidate('a', cluster.client, () => Date.now() + skew);
    a.election.start();
    await until('a leads', () => a.election.holds());
    const fenced = fencedClient(cluster.client, () => a.election.holds());
    const config = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `fenced-${test}`, namespace: 'default' } };
    await fenced.create(config);
    // As if a was stopped for 5 s: by its own clock its last renewal is too old.
    skew = 5000;
    await assert.rejects(
      fenced.create({ ...config, metadata: { ...config.metadata, name: `fenced-${test}-b` } }),
      NotLeader,
    );
    assert.equal(cluster.api.get('v1', 'ConfigMap', 'default', `fenced-${test}-b`), undefined);
    await a.election.stop();
  });

  it('refuses timings where a holder could still act after another took over', () => {
    assert.throws(
      () =>
        new LeaderElection({
          client: cluster.client,
          namespace: 'default',
          name: 'x',
          identity: 'x',
          leaseDurationMs: 1000,
          renewDeadlineMs: 1000,
          onStartedLeading: () => {},
          onStoppedLeading: () => {},
        }),
      /retryPeriod < renewDeadline < leaseDuration/,
    );
  });
});
