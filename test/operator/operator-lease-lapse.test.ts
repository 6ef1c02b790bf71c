/**
 * Losing the leader lease is never a release's failure. The lease is made to lapse at the
 * exact moment the operator writes a version's Deployment — creating it as a release
 * starts, scaling it as the replicas router moves a step — or while an analysis reads its
 * metric, by moving the election's clock
 * past the renew deadline and refusing its Lease requests (an API server too slow to renew
 * in time), so the fenced client refuses that write. No rollback, failed instance or lease
 * error may reach the Rollout's status or its log; once the Lease can be renewed again the
 * same replica leads in a new term, resumes the release from the status on the API server,
 * and promotes it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeError, type KubeClient, type KubeObject, type ObjectRef } from '../../src/kube/api.js';
import { analysisTemplateCrd, rolloutCrd } from '../../src/kube/crd.js';
import { kubernetesWorld } from '../../src/operator/compose.js';
import { Operator } from '../../src/operator/operator.js';
import { versionOf } from '../../src/operator/release.js';
import {
  appTemplate,
  createApp,
  replicasRollout,
  setImage,
  startCluster,
  type TestCluster,
} from '../helpers/kube/cluster.js';

let cluster: TestCluster;
let operator: Operator;
const log: string[] = [];
/** Every status the Rollout was written with, in order, as a watch saw them. */
const statuses: Record<string, unknown>[] = [];
let stopWatch: () => void = () => {};

/** The lease as the test holds it: `blocked`, the election's Lease requests fail; `skew` moves its clock on. */
const lease = { blocked: false, skew: 0 };
/** Which write of the operator's world makes the lease lapse just before it is sent (once). */
let trap: ((verb: string, kind: string, name: string) => boolean) | undefined;
/** The writes the trap caught. */
const trapped: string[] = [];

/** The API server as the election sees it: its Lease requests fail while `lease.blocked`. */
function leaseGate(client: KubeClient): KubeClient {
  const gate = (kind: string) => {
    if (kind === 'Lease' && lease.blocked) throw new KubeError(0, 'Timeout', 'the API server did not answer in time');
  };
  return {
    ...client,
    resource: (apiVersion, kind) => client.resource(apiVersion, kind),
    get: async (ref) => (gate(ref.kind), client.get(ref)),
    list: (apiVersion, kind, namespace, options) => client.list(apiVersion, kind, namespace, options),
    watch: (apiVersion, kind, options, onEvent) => client.watch(apiVersion, kind, options, onEvent),
    create: async (object) => (gate(object.kind), client.create(object)),
    replace: async (object, options) => (gate(object.kind), client.replace(object, options)),
    patch: async (ref, type, patch, options) => (gate(ref.kind), client.patch(ref, type, patch, options)),
    delete: async (ref, options) => (gate(ref.kind), client.delete(ref, options)),
  };
}

/**
 * The lease lapses now: the election's clock is past its renew deadline, and (`blocked`)
 * it cannot renew until the test says; without, its next round renews (a slow moment).
 */
let blockNext = false;
function lapse(): void {
  lease.blocked = blockNext;
  lease.skew += 60_000;
}

/** The fenced client the engine's targets and router write through, with the trap in front of it. */
function trapping(fenced: KubeClient): KubeClient {
  const spring = (verb: string, kind: string, name: string) => {
    if (!trap?.(verb, kind, name)) return;
    trap = undefined;
    trapped.push(`${verb} ${kind} ${name}`);
    lapse();
  };
  return {
    ...fenced,
    resource: (apiVersion, kind) => fenced.resource(apiVersion, kind),
    get: (ref) => fenced.get(ref),
    list: (apiVersion, kind, namespace, options) => fenced.list(apiVersion, kind, namespace, options),
    watch: (apiVersion, kind, options, onEvent) => fenced.watch(apiVersion, kind, options, onEvent),
    create: async <T extends KubeObject>(object: T) => (
      spring('create', object.kind, object.metadata.name),
      fenced.create(object)
    ),
    replace: async <T extends KubeObject>(object: T, options?: { status?: boolean }) => (
      spring('replace', object.kind, object.metadata.name),
      fenced.replace(object, options)
    ),
    patch: async (ref: ObjectRef, type, patch, options) => (
      spring('patch', ref.kind, ref.name),
      fenced.patch(ref, type, patch, options)
    ),
    delete: (ref, options) => fenced.delete(ref, options),
  };
}

/** The metric an analysis reads (always good); `onRead` runs as a read arrives, before it is answered. */
let metric: http.Server;
let onRead: (() => void) | undefined;
const reads: number[] = [];

before(async () => {
  metric = http.createServer((_req, res) => {
    reads.push(Date.now());
    const read = onRead;
    onRead = undefined;
    read?.();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":1}');
  });
  await new Promise<void>((r) => metric.listen(0, '127.0.0.1', r));
  cluster = await startCluster({ deploymentReadyDelayMs: 100 });
  const { client } = cluster;
  for (const crd of [rolloutCrd(), analysisTemplateCrd()]) await client.create(crd);
  await sleep(100); // the CRDs established
  await createApp(client, 'web', 4, 'web:1');
  const { port } = metric.address() as AddressInfo;
  await client.create({
    apiVersion: 'kanari.dev/v1alpha1',
    kind: 'AnalysisTemplate',
    metadata: { name: 'checks', namespace: 'default' },
    spec: {
      threshold: {
        metrics: [
          {
            name: 'ok',
            provider: { web: { url: `http://127.0.0.1:${port}/ok`, jsonPath: '$.ok' } },
            successCondition: 'result >= 1',
            interval: '1s',
            count: 3,
          },
        ],
      },
    },
  });
  await client.create(
    replicasRollout('web', [
      { setWeight: 25 },
      { analysis: { templates: ['checks'] } },
      { setWeight: 50 },
      { pause: { duration: '1s' } },
    ]),
  );
  const { resourceVersion } = await client.list('kanari.dev/v1alpha1', 'Rollout', 'default');
  const watch = client.watch('kanari.dev/v1alpha1', 'Rollout', { resourceVersion, namespace: 'default' }, (e) => {
    if (e.type !== 'BOOKMARK' && e.object.status) statuses.push(e.object.status as Record<string, unknown>);
  });
  stopWatch = () => watch.stop();
  operator = new Operator({
    client: leaseGate(client),
    leaseNamespace: 'default',
    identity: 'operator-1',
    resyncMs: 500,
    election: {
      leaseDurationMs: 1500,
      renewDeadlineMs: 1000,
      retryPeriodMs: 200,
      now: () => Date.now() + lease.skew,
    },
    world: (fenced) => kubernetesWorld(trapping(fenced), { pollMs: 100 }),
    log: (line) => log.push(line),
  });
  operator.start();
});

after(async () => {
  stopWatch();
  await operator.stop();
  await cluster.close();
  await new Promise((r) => metric.close(r));
});

const rollout = () => cluster.api.get('kanari.dev/v1alpha1', 'Rollout', 'default', 'web');
const configMap = () => cluster.api.get('v1', 'ConfigMap', 'default', 'web.kanari-log');
const deployment = (name: string) => cluster.api.get('apps/v1', 'Deployment', 'default', name);
const ready = (version: string) => deployment(`web-${version}`)?.status?.readyReplicas ?? 0;
const term = () => (rollout()?.status?.writer as { term?: number } | undefined)?.term;

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline)
      assert.fail(`${what} within ${ms} ms; status ${JSON.stringify(rollout()?.status?.message)}\n${log.join('\n')}`);
    await sleep(50);
  }
}

/**
 * The lease lapses at the write `trap` catches. `blocked`: its Lease requests fail until
 * the operator has stopped leading; otherwise its next round renews it at once.
 */
async function lapseAt(caught: (verb: string, kind: string, name: string) => boolean, blocked: boolean): Promise<void> {
  const before = trapped.length;
  blockNext = blocked;
  trap = caught;
  return (async () => {
    await until('the trapped write', () => trapped.length > before);
    if (blocked) await until('the operator stops leading', () => !operator.isLeader);
    lease.blocked = false;
  })();
}

/** Nothing the lapse caused reached what the user reads: no rollback, no failed instance, no lease error. */
function assertNoLapseEffects(version: string): void {
  for (const s of statuses) {
    const state = s.state as { phase?: string; result?: { outcome?: string; release?: { version?: string } } };
    assert.notEqual(state?.phase, 'Rollback', `a status was written in rollback: ${JSON.stringify(s.message)}`);
    if (state?.result?.release?.version === version)
      assert.equal(state.result.outcome, 'Promoted', `${version} ended ${state.result.outcome}: ${String(s.message)}`);
    assert.doesNotMatch(JSON.stringify(s), /leader lease/);
  }
  const written = JSON.stringify(configMap()?.data ?? {});
  assert.doesNotMatch(written, /leader lease/, 'the lapse is in the Rollout’s log');
  assert.doesNotMatch(written, /instanceFailed|rolledBack|RolledBack/, 'a failure is in the Rollout’s log');
}

describe('the operator losing its lease mid-release', () => {
  const v1 = versionOf(appTemplate('web', 'web:1'));
  const v2 = versionOf(appTemplate('web', 'web:2'));
  const v3 = versionOf(appTemplate('web', 'web:3'));

  it('takes the pods over', async () => {
    await until('stable serves', () => rollout()?.status?.phase === 'StableOnly' && ready(v1) === 4);
  });

  it('a lapse renewed at once, as the release creates its Deployment: no rollback; a new term resumes it and promotes it', async () => {
    const termBefore = term();
    const lapsed = lapseAt(
      (verb, kind, name) => verb === 'create' && kind === 'Deployment' && name === `web-${v2}`,
      false,
    );
    await setImage(cluster.client, 'web', 'web:2');
    await lapsed;
    await until('v2 ended', () => rollout()?.status?.state?.result?.release?.version === v2);
    assert.equal(rollout()?.status?.state?.result?.outcome, 'Promoted', String(rollout()?.status?.message));
    assertNoLapseEffects(v2);
    assert.ok((term() ?? -1) > (termBefore ?? -1), `a new term after the lapse (${termBefore} then ${term()})`);
  });

  it('a lapse past the renew deadline, as the router scales the new version: no rollback; resumed and promoted', async () => {
    const termBefore = term();
    const lapsed = lapseAt(
      (verb, kind, name) => verb === 'replace' && kind === 'Deployment' && name === `web-${v3}`,
      true,
    );
    await setImage(cluster.client, 'web', 'web:3');
    await lapsed;
    await until('v3 ended', () => rollout()?.status?.state?.result?.release?.version === v3);
    assert.equal(rollout()?.status?.state?.result?.outcome, 'Promoted', String(rollout()?.status?.message));
    assertNoLapseEffects(v3);
    assert.ok((term() ?? -1) > (termBefore ?? -1), `a new term after the lapse (${termBefore} then ${term()})`);
  });
  it('a lapse while an analysis reads its metric: no failed verdict; the analysis resumes and the release is promoted', async () => {
    const v4 = versionOf(appTemplate('web', 'web:4'));
    const termBefore = term();
    const before = reads.length;
    await setImage(cluster.client, 'web', 'web:4');
    await until('the analysis reads', () => reads.length > before);
    // The second read: the run is under way, and the lease lapses as it reads.
    blockNext = true;
    onRead = () => {
      trapped.push('read');
      lapse();
    };
    await until('the lapse', () => trapped.at(-1) === 'read');
    await until('the operator stops leading', () => !operator.isLeader);
    lease.blocked = false;
    await until('v4 ended', () => rollout()?.status?.state?.result?.release?.version === v4);
    assert.equal(rollout()?.status?.state?.result?.outcome, 'Promoted', String(rollout()?.status?.message));
    assertNoLapseEffects(v4);
    for (const s of statuses) {
      const analyses = (s.state as { analyses?: { verdict?: string; reason?: string }[] } | undefined)?.analyses ?? [];
      for (const a of analyses)
        assert.ok(a.verdict === 'Running' || a.verdict === 'Successful', `a verdict ${a.verdict}: ${a.reason}`);
    }
    assert.ok((term() ?? -1) > (termBefore ?? -1), `a new term after the lapse (${termBefore} then ${term()})`);
  });
});
