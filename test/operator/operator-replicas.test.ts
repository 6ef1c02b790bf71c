/**
 * The operator end to end on the test API server, with the replicas router: it takes a
 * Deployment's pods over, releases a new template step by step without ever giving the
 * new pods more than the step's share, promotes it, and rolls the next one back on a
 * person's abort sent through the resource. The user's Deployment stays at zero pods
 * throughout, whatever its template says.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { COMMAND_ANNOTATION } from '../../src/kube/commands.js';
import type { ObjectRef } from '../../src/kube/api.js';
import type { Operator } from '../../src/operator/operator.js';
import { versionOf } from '../../src/operator/release.js';
import {
  appTemplate,
  createApp,
  replicasRollout,
  ROLLOUT_CRD,
  setImage,
  startCluster,
  startOperator,
  type TestCluster,
} from '../helpers/kube/cluster.js';
import { validateObject } from '../helpers/kube/models.js';

let cluster: TestCluster;
let operator: Operator;
const log: string[] = [];

const template = (image: string) => appTemplate('web', image);

before(async () => {
  cluster = await startCluster({ deploymentReadyDelayMs: 100 });
  const { client } = cluster;
  await client.create(ROLLOUT_CRD);
  await createApp(client, 'web', 4, 'web:1');
  await client.create(
    replicasRollout('web', [
      { setWeight: 25 },
      { pause: { duration: '1s' } },
      { setWeight: 50 },
      { pause: { duration: '1s' } },
    ]),
  );
  operator = startOperator(client, log);
});

after(async () => {
  await operator.stop();
  await cluster.close();
});

const rollout = () => cluster.api.get('kanari.dev/v1alpha1', 'Rollout', 'default', 'web');
const deployment = (name: string) => cluster.api.get('apps/v1', 'Deployment', 'default', name);

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline)
      assert.fail(
        `${what} within ${ms} ms; status ${JSON.stringify(rollout()?.status?.state?.message)}\n${log.join('\n')}\n` +
          JSON.stringify(
            cluster.api
              .objects('apps/v1', 'Deployment', 'default')
              .map((d) => [d.metadata.name, d.spec.replicas, d.status?.readyReplicas, d.metadata.labels]),
          ),
      );
    await sleep(50);
  }
}

const setTemplate = (image: string) => setImage(cluster.client, 'web', image);

/** Ready pods of a version's Deployment (kanari's, named `web-<version>`). */
const ready = (version: string) => deployment(`web-${version}`)?.status?.readyReplicas ?? 0;

describe('the operator with the replicas router', () => {
  const v1 = versionOf(template('web:1'));
  const v2 = versionOf(template('web:2'));
  const v3 = versionOf(template('web:3'));

  it('takes the pods over: the template becomes stable in a Deployment of its own, then the workload goes to zero', async () => {
    await until('stable serves', () => rollout()?.status?.phase === 'StableOnly' && ready(v1) === 4);
    await until('the workload held at zero', () => deployment('web')?.spec.replicas === 0);
    assert.equal(deployment('web')?.metadata.annotations?.['kanari.dev/workload-replicas'], '4');
    assert.equal(rollout()?.status?.state?.stable.version, v1);
    const owner = deployment(`web-${v1}`)?.metadata.ownerReferences?.[0];
    assert.equal(owner?.kind, 'Rollout');
    const conditions = rollout()?.status?.conditions as { type: string; status: string }[];
    assert.equal(conditions.find((c) => c.type === 'Healthy')?.status, 'True');
  });

  it('releases a new template step by step, never more new pods than the step allows, and promotes it', async () => {
    await setTemplate('web:2');
    let worst = 0;
    await until('v2 promoted', () => {
      const total = ready(v1) + ready(v2);
      const weight = rollout()?.status?.weight ?? 0;
      // Read pods first, the status after: the status says a weight before any pod serves it.
      if (total > 0 && rollout()?.status?.state?.stable.version === v1)
        worst = Math.max(worst, ready(v2) / total - weight / 100);
      return rollout()?.status?.state?.result?.outcome === 'Promoted';
    });
    assert.ok(worst <= 0.0001, `the new pods had ${(worst * 100).toFixed(1)} points more than their step's share`);
    assert.equal(rollout()?.status?.state?.stable.version, v2);
    await until('v1 stopped', () => deployment(`web-${v1}`) === undefined);
    assert.equal(deployment('web')?.spec.replicas, 0, 'the workload stayed at zero');
    const ownPods = cluster.api.readyPods('default', 'web');
    assert.equal(
      Object.values(ownPods).reduce((a, b) => a + b, 0),
      0,
      'no pod of the workload itself ever ran the new template',
    );
  });

  it('rolls back on an abort sent through the resource, and answers it once', async () => {
    await setTemplate('web:3');
    await until(
      'v3 at 25%',
      () => rollout()?.status?.state?.canary?.version === v3 && (rollout()?.status?.weight ?? 0) > 0,
    );
    await cluster.client.patch(
      { apiVersion: 'kanari.dev/v1alpha1', kind: 'Rollout', namespace: 'default', name: 'web' },
      'merge',
      {
        metadata: {
          annotations: { [COMMAND_ANNOTATION]: JSON.stringify({ id: 'abort-0001', command: 'abort', by: 'test' }) },
        },
      },
    );
    await until('rolled back', () => rollout()?.status?.state?.result?.outcome === 'Aborted');
    assert.deepEqual(
      { id: rollout()?.status?.command?.id, refused: rollout()?.status?.command?.refused },
      { id: 'abort-0001', refused: undefined },
    );
    await until('v3 stopped', () => deployment(`web-${v3}`) === undefined);
    assert.equal(rollout()?.status?.state?.stable.version, v2);
    // The aborted template is still the workload's: it is not released again by itself.
    await sleep(1500);
    assert.equal(rollout()?.status?.state?.canary, undefined);
    assert.equal(log.filter((l) => l.includes('abort from test')).length, 1, 'carried out once');
    // What `kubectl describe rollout web` lists: each transition as an Event on the Rollout.
    const events = (
      cluster.api.objects('v1', 'Event', 'default') as unknown as {
        involvedObject: { name: string };
        type: string;
        reason: string;
        message: string;
      }[]
    )
      .filter((e) => e.involvedObject.name === 'web')
      .map((e) => `${e.type} ${e.reason}: ${e.message}`);
    for (const expected of [
      /^Normal Deploy: deploy /,
      /^Normal Promoted: Promoted /,
      /^Warning Abort: abort/,
      /^Warning Aborted: Aborted /,
    ])
      assert.ok(
        events.some((e) => expected.test(e)),
        `${expected} among ${JSON.stringify(events, null, 1)}`,
      );
    for (const e of cluster.api.objects('v1', 'Event', 'default')) validateObject(e);
  });

  it('keeps the workload at zero while its Rollout is refused: scaled up then, its pods would all run its newest template', async () => {
    const ref = { apiVersion: 'kanari.dev/v1alpha1', kind: 'Rollout', namespace: 'default', name: 'web' };
    const steps = (rollout()!.spec as { strategy: { canary: { steps: unknown[] } } }).strategy.canary.steps;
    await cluster.client.patch(ref, 'merge', {
      spec: { strategy: { canary: { steps: [{ setMirror: { percent: 10 } }] } } },
    });
    await until('refused', () => /refused/.test(rollout()?.status?.message ?? ''));
    const web = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'default', name: 'web' };
    await cluster.client.patch(web, 'merge', { spec: { replicas: 3 } });
    await until('the workload scaled back to zero', () => deployment('web')?.spec.replicas === 0);
    // A person can still act on the release that runs: a command is answered while the edit is refused.
    const command = JSON.stringify({ id: 'pause-0002', command: 'pause', by: 'test' });
    await cluster.client.patch(ref, 'merge', { metadata: { annotations: { [COMMAND_ANNOTATION]: command } } });
    await until('the command answered', () => rollout()?.status?.command?.id === 'pause-0002');
    await cluster.client.patch(ref, 'merge', { spec: { strategy: { canary: { steps } } } });
    await until('no longer refused', () => !/refused/.test(rollout()?.status?.message ?? ''));
  });

  /** Refuses the Rollout `web` by an edit, restarts the operator, runs `check`, and makes the Rollout valid again. */
  async function refusedUnderNewLeader(check: (ref: ObjectRef) => Promise<void>): Promise<void> {
    const ref = { apiVersion: 'kanari.dev/v1alpha1', kind: 'Rollout', namespace: 'default', name: 'web' };
    const steps = (rollout()!.spec as { strategy: { canary: { steps: unknown[] } } }).strategy.canary.steps;
    await cluster.client.patch(ref, 'merge', {
      spec: { strategy: { canary: { steps: [{ setMirror: { percent: 10 } }] } } },
    });
    try {
      await until('refused', () => /refused/.test(rollout()?.status?.message ?? ''));
      await operator.stop();
      operator = startOperator(cluster.client, log, `operator-${++leaders}`);
      await check(ref);
    } finally {
      await cluster.client.patch(ref, 'merge', { spec: { strategy: { canary: { steps } } } });
      await until('no longer refused', () => !/refused/.test(rollout()?.status?.message ?? ''));
    }
  }
  let leaders = 1;

  it('and under a new leader while the Rollout is refused, the workload is still held at zero', () =>
    refusedUnderNewLeader(async () => {
      const web = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'default', name: 'web' };
      await cluster.client.patch(web, 'merge', { spec: { replicas: 3 } });
      await until('the workload scaled back to zero', () => deployment('web')?.spec.replicas === 0, 8_000);
    }));

  // A new leader opens no engine for a refused spec (nothing it would run is known to be
  // valid), so it cannot carry a command out: it answers why, and the person is not left waiting.
  it('and under a new leader while the Rollout is refused, a command is answered with the reason', () =>
    refusedUnderNewLeader(async (ref) => {
      const command = JSON.stringify({ id: 'pause-0003', command: 'pause', by: 'test' });
      await cluster.client.patch(ref, 'merge', { metadata: { annotations: { [COMMAND_ANNOTATION]: command } } });
      await until('the command answered', () => rollout()?.status?.command?.id === 'pause-0003', 8_000);
      assert.match(rollout()!.status!.command!.refused ?? '', /the Rollout is refused: .*fix the spec, then ask again/);
    }));

  it('refuses a Rollout that lint refuses, and says why in its status', async () => {
    await cluster.client.create(
      replicasRollout('web', [{ setMirror: { percent: 10 } }, { setWeight: 50 }], { name: 'mirrored' }),
    );
    const status = () => cluster.api.get('kanari.dev/v1alpha1', 'Rollout', 'default', 'mirrored')?.status;
    await until('refused', () => /refused/.test(status()?.message ?? ''));
    assert.match(status()!.message, /steps\[0\]\.setMirror: the replicas router cannot do mirroring/);
    assert.equal(status()!.conditions[0].type, 'Degraded');
    assert.equal(deployment('mirrored'), undefined);
  });
});
