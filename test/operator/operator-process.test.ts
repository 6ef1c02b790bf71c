/**
 * `kanari operator` as real processes against the test API server: one killed with
 * SIGKILL mid-rollout and started again resumes from the Rollout's status (same step,
 * same canary Deployment, nothing started twice); of two replicas only the Lease holder
 * writes, across a leader stopped with SIGSTOP past its lease and then resumed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { COMMAND_ANNOTATION } from '../../src/kube/commands.js';
import { versionOf } from '../../src/operator/release.js';
import { DASHBOARD_HEADERS } from '../../src/server/dashboard-files.js';
import { Tokens } from '../../src/server/tokens.js';
import { KubernetesTokenRows } from '../../src/store/kubernetes-tokens.js';
import { startCli } from '../helpers/cli.js';
import { request } from '../helpers/http.js';
import {
  appTemplate,
  createApp,
  ROLLOUT_CRD,
  setImage,
  startCluster,
  type TestCluster,
} from '../helpers/kube/cluster.js';

let cluster: TestCluster;
let dir: string;
let kubeconfig: string;
const running: ChildProcess[] = [];

const template = appTemplate;

before(async () => {
  cluster = await startCluster({ deploymentReadyDelayMs: 50 });
  dir = mkdtempSync(join(tmpdir(), 'kanari-operator-'));
  kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{ name: test, cluster: { server: "${cluster.api.url}" } }]
users: [{ name: test, user: {} }]
contexts: [{ name: test, context: { cluster: test, user: test, namespace: default } }]
current-context: test
`,
  );
  await cluster.client.create(ROLLOUT_CRD);
});

after(async () => {
  for (const child of running) child.kill('SIGKILL');
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A replica of `kanari operator` with short leader-election timings (and `extra` flags). */
async function operator(
  identity: string,
  extra: string[] = [],
): Promise<{ child: ChildProcess; output: () => string }> {
  const started = await startCli(
    [
      'operator',
      '--kubeconfig',
      kubeconfig,
      '--identity',
      identity,
      '--listen',
      '0',
      '--lease-duration',
      '2s',
      '--renew-deadline',
      '1500ms',
      '--retry-period',
      '250ms',
      '--resync',
      '500ms',
      ...extra,
    ],
    /kanari operator/,
  );
  running.push(started.child);
  return started;
}

async function kill9(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

async function app(name: string, steps: unknown[]): Promise<void> {
  const { client } = cluster;
  await createApp(client, name, 4, `${name}:1`);
  await client.create({
    apiVersion: 'kanari.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name, namespace: 'default' },
    spec: {
      workloadRef: { name },
      service: { name },
      trafficRouting: { replicas: {} },
      strategy: { canary: { steps } },
    },
  });
}

const rollout = (name: string) => cluster.api.get('kanari.dev/v1alpha1', 'Rollout', 'default', name);
const deployment = (name: string) => cluster.api.get('apps/v1', 'Deployment', 'default', name);
const lease = () => cluster.api.get('coordination.k8s.io/v1', 'Lease', 'default', 'kanari-operator');

async function until(what: string, ok: () => boolean, ms = 30_000, log = () => ''): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`${what} within ${ms} ms\n${log()}`);
    await sleep(50);
  }
}

const setTemplate = (name: string, image: string) => setImage(cluster.client, name, image);

const command = (name: string, id: string, what: string) =>
  cluster.client.patch({ apiVersion: 'kanari.dev/v1alpha1', kind: 'Rollout', namespace: 'default', name }, 'merge', {
    metadata: { annotations: { [COMMAND_ANNOTATION]: JSON.stringify({ id, command: what }) } },
  });

describe('kanari operator processes', () => {
  it('resumes a rollout from its status after SIGKILL: same step, same canary, nothing started twice', async () => {
    await app('shop', [{ setWeight: 50 }, { pause: {} }]);
    const a = await operator('replica-a');
    await until('stable serves', () => rollout('shop')?.status?.phase === 'StableOnly', 30_000, a.output);
    await setTemplate('shop', 'shop:2');
    const v2 = versionOf(template('shop', 'shop:2'));
    await until('paused at 50%', () => rollout('shop')?.status?.phase === 'Paused', 30_000, a.output);
    const canaryUid = deployment(`shop-${v2}`)?.metadata.uid;
    assert.ok(canaryUid);
    const before = rollout('shop')!.status;
    await kill9(a.child);

    const b = await operator('replica-b', ['--api', '127.0.0.1:0']);
    // b waits out a's lease, then carries on from the status a left.
    await until('b leads', () => lease()?.spec.holderIdentity === 'replica-b', 30_000, b.output);
    await sleep(1000);
    const after = rollout('shop')!.status;
    assert.equal(after.phase, 'Paused');
    assert.equal(after.state.step, before.state.step);
    assert.equal(after.weight, 50);
    assert.equal(
      deployment(`shop-${v2}`)?.metadata.uid,
      canaryUid,
      'the canary Deployment was adopted, not made again',
    );
    // Through b's API this time, with a token from the Secret beside the Lease.
    const port = Number(
      /kanari API on http:\/\/127\.0\.0\.1:(\d+) \(tokens in Secret default\/kanari-api-tokens\)/.exec(b.output())?.[1],
    );
    assert.ok(port > 0, b.output());
    // The dashboard from the built files, with its CSP, and its sign-in beside the API.
    assert.match(
      b.output(),
      /the dashboard at the same address, browser sessions in Secret default\/kanari-api-sessions/,
    );
    const page = await request(port, { path: '/rollouts/default/shop', headers: { accept: 'text/html' } });
    assert.equal(page.status, 200, page.body);
    assert.equal(page.headers['content-security-policy'], DASHBOARD_HEADERS['content-security-policy']);
    assert.match(page.body, /<script type="module" src="\/assets\/main\.js">/);
    const tokens = new Tokens(new KubernetesTokenRows({ client: cluster.client, namespace: 'default', log: () => {} }));
    const { token } = await tokens.create({ name: 'release-bot', role: 'operator' });
    const promoted = await request(port, {
      method: 'POST',
      path: '/api/v1/rollouts/shop/promote',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(promoted.status, 200, promoted.body);
    await until('promoted', () => rollout('shop')?.status?.state?.result?.outcome === 'Promoted', 30_000, b.output);
    assert.match(b.output(), /default\/shop: promote from release-bot: done/);
    assert.equal(rollout('shop')?.status?.writer.identity, 'replica-b');
    await kill9(b.child);
  });

  it('only the Lease holder writes: a leader stopped past its lease writes nothing when it resumes', async () => {
    await app('cart', [{ setWeight: 50 }, { pause: {} }]);
    const a = await operator('replica-c');
    await until('c leads', () => lease()?.spec.holderIdentity === 'replica-c', 30_000, a.output);
    await until('stable serves', () => rollout('cart')?.status?.phase === 'StableOnly', 30_000, a.output);
    const b = await operator('replica-d');
    await sleep(1500);
    assert.equal(lease()?.spec.holderIdentity, 'replica-c', 'd waits while c renews');

    // Every status write from here on, by its writer's stamp.
    const writers: string[] = [];
    const watch = cluster.client.watch(
      'kanari.dev/v1alpha1',
      'Rollout',
      { namespace: 'default', resourceVersion: cluster.api.resourceVersion() },
      (e) => {
        const w = (e.object.status as { writer?: { identity: string } } | undefined)?.writer?.identity;
        if (e.object.metadata.name === 'cart' && w && writers.at(-1) !== w) writers.push(w);
      },
    );
    a.child.kill('SIGSTOP');
    await until('d takes the lease', () => lease()?.spec.holderIdentity === 'replica-d', 30_000, b.output);
    await setTemplate('cart', 'cart:2');
    await until('d rolls cart out', () => rollout('cart')?.status?.phase === 'Paused', 30_000, b.output);
    a.child.kill('SIGCONT');
    // c wakes with a renewal far too old by its own clock: it stops leading and writes nothing.
    await until('c says it stopped', () => /stopped leading/.test(a.output()), 30_000, a.output);
    await command('cart', 'promote-by-d', 'promote');
    await until('promoted', () => rollout('cart')?.status?.state?.result?.outcome === 'Promoted', 30_000, b.output);
    await sleep(1000);
    watch.stop();
    const firstByD = writers.indexOf('replica-d');
    assert.ok(firstByD >= 0, 'd wrote the status');
    assert.ok(!writers.slice(firstByD).includes('replica-c'), `c wrote after d took over: ${writers.join(', ')}`);
    assert.equal(lease()?.spec.holderIdentity, 'replica-d');
    await kill9(a.child);
    await kill9(b.child);
  });
});
