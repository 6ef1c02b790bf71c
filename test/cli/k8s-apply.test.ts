/**
 * What `kanari k8s manifests` installs, applied with Debian's kubectl to the test API
 * server (test/helpers/kube/apiserver.ts), which enforces a CRD's structural schema as a
 * real one does: the generated CRDs are accepted, every example Rollout (and the
 * AnalysisTemplate beside one) applies, a Rollout or template of the wrong shape is refused
 * by the schema, and `kubectl get kro` prints the columns.
 * RBAC and ServiceAccounts are not served by the test API server; test/kube/manifests.test.ts
 * validates them against the official schemas instead.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { ensureDebian } from '../../scripts/ensure-debian.mjs';
import { installManifests } from '../../src/kube/manifests.js';
import { startKubeApiServer, type TestKubeApi } from '../helpers/kube/apiserver.js';

const dir = mkdtempSync(join(tmpdir(), 'kanari-k8s-apply-'));
let api: TestKubeApi;
let env: NodeJS.ProcessEnv;

/** kubectl ARGS with `input` on stdin; never spawnSync: the API server answers from this process. */
async function kubectl(args: string[], input = ''): Promise<{ status: number | null; out: string }> {
  const child = spawn('kubectl', args, { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  child.stdin.end(input);
  const [status] = (await once(child, 'close')) as [number | null];
  return { status, out };
}

before(async () => {
  ensureDebian([['kubectl', 'kubernetes-client']]);
  api = await startKubeApiServer();
  const kubeconfig = join(dir, 'config');
  writeFileSync(
    kubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server: api.url } }],
      users: [{ name: 'test', user: {} }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
      'current-context': 'test',
    }),
  );
  env = { ...process.env, KUBECONFIG: kubeconfig, HOME: dir };
});
after(async () => {
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('kanari k8s manifests, applied', () => {
  it('installs the CRD, the namespace and the operator, and every example Rollout applies', async () => {
    const served = new Set(['CustomResourceDefinition', 'Namespace', 'Deployment']);
    const objects = installManifests({ version: '0.1.0' }).filter((o) => served.has(o.kind));
    const applied = await kubectl(
      ['apply', '--server-side', '-f', '-'],
      objects.map((o) => stringify(o)).join('---\n'),
    );
    assert.equal(applied.status, 0, applied.out);
    assert.match(
      applied.out,
      /customresourcedefinition\.apiextensions\.k8s\.io\/rollouts\.kanari\.dev serverside-applied/,
    );
    const ns = await kubectl(
      ['apply', '--server-side', '-f', '-'],
      'apiVersion: v1\nkind: Namespace\nmetadata: { name: shop }\n',
    );
    assert.equal(ns.status, 0, ns.out);
    for (const router of readdirSync('examples/kubernetes')) {
      const text = readFileSync(`examples/kubernetes/${router}/rollout.yaml`, 'utf8').replace(
        /name: checkout$/m,
        `name: ${router}`,
      );
      const r = await kubectl(['apply', '--server-side', '-f', '-'], text);
      assert.equal(r.status, 0, `${router}: ${r.out}`);
    }
    // The replicas example's AnalysisTemplate is a resource of the generated CRD too.
    const template = api.get('kanari.dev/v1alpha1', 'AnalysisTemplate', 'shop', 'checkout-success');
    assert.equal(template?.spec.threshold.metrics[0].successCondition, 'result >= 0.99');
    // The schema's defaults are the API server's to fill in, as zod fills them in when it loads.
    assert.deepEqual(api.get('kanari.dev/v1alpha1', 'Rollout', 'shop', 'gatewayapi')?.spec.workloadRef, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'checkout',
    });
  });

  it('refuses a Rollout of the wrong shape, naming the field', async () => {
    const text = readFileSync('examples/kubernetes/nginx/rollout.yaml', 'utf8').replace(
      'setWeight: 10',
      'setWeight: ten',
    );
    const r = await kubectl(['apply', '--server-side', '-f', '-'], text);
    assert.notEqual(r.status, 0);
    assert.match(r.out, /spec\.strategy\.canary\.steps\[2\]\.setWeight/);
  });

  it('refuses an AnalysisTemplate of the wrong shape, naming the field', async () => {
    const text = readFileSync('examples/kubernetes/replicas/rollout.yaml', 'utf8')
      .split(/^---$/m)[1]!
      .replace('failureLimit: 1', 'failureLimit: one');
    const r = await kubectl(['apply', '--server-side', '-f', '-'], text);
    assert.notEqual(r.status, 0);
    assert.match(r.out, /spec\.threshold\.metrics\[0\]\.failureLimit/);
  });

  it('prints phase, weight and step from the status', async () => {
    const status = { phase: 'SmallTraffic', weight: 25, step: '3/8' };
    const res = await fetch(`${api.url}/apis/kanari.dev/v1alpha1/namespaces/shop/rollouts/istio/status`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ status }),
    });
    assert.equal(res.status, 200, await res.text());
    const r = await kubectl(['get', 'kro', '-n', 'shop', 'istio']);
    assert.equal(r.status, 0, r.out);
    const [header, row] = r.out
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/));
    assert.deepEqual(header, ['NAME', 'PHASE', 'WEIGHT', 'STEP', 'AGE']);
    assert.deepEqual(row!.slice(0, 4), ['istio', 'SmallTraffic', '25', '3/8']);
  });
});
