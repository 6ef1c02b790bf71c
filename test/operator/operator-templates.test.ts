/**
 * The operator and the AnalysisTemplate resources a Rollout names, on the test API server
 * with both generated CRDs: a Rollout whose template is missing, invalid, or one that
 * cannot judge under its router is refused with the reason in its status (and its
 * Deployment is left alone); once a valid template exists, the Rollout goes on by itself.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { analysisTemplateCrd, rolloutCrd } from '../../src/kube/crd.js';
import { updateObject } from '../../src/kube/update.js';
import type { Operator } from '../../src/operator/operator.js';
import {
  createApp,
  replicasRollout,
  setImage,
  startCluster,
  startOperator,
  type TestCluster,
} from '../helpers/kube/cluster.js';

let cluster: TestCluster;
let operator: Operator;
const log: string[] = [];

const TEMPLATE = { apiVersion: 'kanari.dev/v1alpha1', kind: 'AnalysisTemplate', namespace: 'default', name: 'checks' };
const metric = (patch: Record<string, unknown> = {}) => ({
  name: 'success',
  provider: { prometheus: { address: 'http://127.0.0.1:9', preset: 'istio/success-rate' } },
  successCondition: 'result >= 0.99',
  ...patch,
});

// A release waits at the pause for a person: long enough to change its template under it.
const STRATEGY = { canary: { steps: [{ setWeight: 50 }, { pause: {} }, { analysis: { templates: ['checks'] } }] } };

before(async () => {
  cluster = await startCluster({ deploymentReadyDelayMs: 50 });
  const { client } = cluster;
  for (const crd of [rolloutCrd(), analysisTemplateCrd()]) await client.create(crd);
  await sleep(100); // the CRDs established
  await createApp(client, 'web', 2, 'web:1');
  await client.create(replicasRollout('web', STRATEGY.canary.steps));
  operator = startOperator(cluster.client, log);
});

after(async () => {
  await operator?.stop();
  await cluster?.close();
});

const rollout = () => cluster.api.get('kanari.dev/v1alpha1', 'Rollout', 'default', 'web');
const workloadReplicas = () => cluster.api.get('apps/v1', 'Deployment', 'default', 'web')?.spec.replicas;

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline)
      assert.fail(`${what} within ${ms} ms; status ${JSON.stringify(rollout()?.status)}\n${log.join('\n')}`);
    await sleep(50);
  }
}

/** The Rollout is refused with a message matching `reason`, shown as Degraded, and its Deployment is not taken. */
async function refusedFor(reason: RegExp): Promise<void> {
  await until(`refused for ${reason}`, () => reason.test(rollout()?.status?.message ?? ''));
  const status = rollout()!.status;
  assert.match(status.message, /^the Rollout is refused: /);
  const degraded = status.conditions.find((c: { type: string }) => c.type === 'Degraded');
  assert.equal(degraded?.status, 'True');
  assert.equal(degraded?.message, status.message);
  assert.equal(status.state, undefined, 'no engine ran');
  assert.equal(workloadReplicas(), 2, "the user's Deployment is left as it is");
}

const writeTemplate = (spec: unknown) =>
  updateObject(cluster.client, TEMPLATE, (t) => ({ ...t, spec: spec as Record<string, unknown> }));

describe('the operator and AnalysisTemplate resources', () => {
  it('refuses a Rollout while its template is missing, invalid or unfit, and goes on once it is valid', async () => {
    await refusedFor(/no AnalysisTemplate default\/checks: create it/);

    // Valid for the CRD's schema, not for zod: what only the operator can say.
    await cluster.client.create({
      apiVersion: TEMPLATE.apiVersion,
      kind: TEMPLATE.kind,
      metadata: { name: TEMPLATE.name, namespace: TEMPLATE.namespace },
      spec: { threshold: { metrics: [metric({ successCondition: 'result >=' })] } },
    });
    await refusedFor(
      /AnalysisTemplate default\/checks is not valid: spec\.threshold\.metrics\[0\]\.successCondition: /,
    );

    // The sequential test counts requests, and the replicas router assigns connections.
    await writeTemplate({ sequential: { source: { prometheus: { address: 'http://127.0.0.1:9' } } } });
    await refusedFor(/template "checks" is the sequential test.*replicas router sends whole connections/);

    await writeTemplate({ threshold: { metrics: [metric()] } });
    await until('the Rollout runs', () => rollout()?.status?.state?.phase === 'StableOnly');
    await until("the user's Deployment taken over", () => workloadReplicas() === 0);
    assert.doesNotMatch(rollout()!.status.message, /refused/);
  });

  it('refuses a template that would shadow a built-in in the status of a running Rollout, until it is gone', async () => {
    const shadow = { ...TEMPLATE, name: 'threshold' };
    await cluster.client.create({
      apiVersion: shadow.apiVersion,
      kind: shadow.kind,
      metadata: { name: shadow.name, namespace: shadow.namespace },
      spec: { threshold: { metrics: [metric()] } },
    });
    await updateObject(cluster.client, { ...TEMPLATE, kind: 'Rollout', name: 'web' }, (r) => ({
      ...r,
      spec: {
        ...(r.spec as Record<string, unknown>),
        strategy: { canary: { steps: [{ setWeight: 50 }, { analysis: { templates: ['checks', 'threshold'] } }] } },
      },
    }));
    // The engine runs (stable serves): the refusal is shown on top of its status until it is resolved.
    const shadowed = /^the Rollout is refused: AnalysisTemplate default\/threshold has the name of a built-in template/;
    await until('the shadowing template refused in the status', () => shadowed.test(rollout()?.status?.message ?? ''));
    const degraded = () => rollout()!.status.conditions.find((c: { type: string }) => c.type === 'Degraded');
    assert.equal(degraded().status, 'True');
    assert.equal(degraded().reason, 'Refused');
    assert.equal(rollout()!.status.state.phase, 'StableOnly');

    // Without the resource, `threshold` is the built-in, which reads kanari's own router: refused as lint refuses it.
    await cluster.client.delete({ ...shadow });
    await until('the built-in refused', () => /reads the builtin provider/.test(rollout()?.status?.message ?? ''));
    await updateObject(cluster.client, { ...TEMPLATE, kind: 'Rollout', name: 'web' }, (r) => ({
      ...r,
      spec: { ...(r.spec as Record<string, unknown>), strategy: STRATEGY },
    }));
    await until('the refusal lifted', () => !/refused/.test(rollout()?.status?.message ?? ''));
    assert.equal(degraded().status, 'False');
  });

  it('pins the templates a release started with in the status, and a new leader resumes with them', async () => {
    const valid = structuredClone(cluster.api.get(TEMPLATE.apiVersion, TEMPLATE.kind, 'default', 'checks')!.spec);
    await setImage(cluster.client, 'web', 'web:2');
    await until('the release waits at its pause', () => rollout()?.status?.state?.phase === 'Paused');
    assert.deepEqual(rollout()!.status.templates, { checks: valid });

    // Broken under the release, and the leader changes: the release must not read it.
    await writeTemplate({ threshold: { metrics: [metric({ successCondition: 'result >=' })] } });
    await operator.stop();
    operator = startOperator(cluster.client, log, 'operator-2');
    await until('the new leader writes the status', () => rollout()?.status?.writer?.identity === 'operator-2');
    await sleep(1000); // a few resyncs
    assert.equal(rollout()!.status.state.phase, 'Paused');
    assert.doesNotMatch(rollout()!.status.message, /refused/);
    assert.deepEqual(rollout()!.status.templates, { checks: valid });
  });
});
