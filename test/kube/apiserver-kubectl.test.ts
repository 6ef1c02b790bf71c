// Debian's kubectl (1.20, the floor; or whatever `kubectl` is on PATH, or $KUBECTL) drives the
// test API server: server-side apply of a CRD and of objects, printer columns, conflicts
// between field managers and --force-conflicts, `get deploy`, `get all`, delete.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ensureDebian } from '../../scripts/ensure-debian.mjs';
import { startKubeApiServer, type TestKubeApi } from '../helpers/kube/apiserver.js';
import { httpRouteCrd } from '../helpers/kube/crd-manifests.js';
import { deployment, eventually } from '../helpers/kube/request.js';

const run = promisify(execFile);
let api: TestKubeApi;
let dir: string;

/** Runs kubectl against the test server (asynchronously: the server runs in this process). */
async function kubectl(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(process.env.KUBECTL ?? 'kubectl', args, {
      env: { ...process.env, KUBECONFIG: join(dir, 'kubeconfig'), HOME: dir },
      timeout: 60_000,
    });
    return { code: 0, out: stdout, err: stderr };
  } catch (err: any) {
    return { code: typeof err.code === 'number' ? err.code : 1, out: err.stdout ?? '', err: err.stderr ?? String(err) };
  }
}

function file(name: string, object: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(object));
  return path;
}

before(async () => {
  if (!process.env.KUBECTL) ensureDebian([['kubectl', 'kubernetes-client']]);
  api = await startKubeApiServer({ deploymentReadyDelayMs: 50 });
  dir = mkdtempSync(join(tmpdir(), 'kanari-kubectl-'));
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server: api.url } }],
    users: [{ name: 'test', user: {} }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'test', namespace: 'default' } }],
    'current-context': 'test',
  };
  writeFileSync(join(dir, 'kubeconfig'), JSON.stringify(kubeconfig));
});
after(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

const ok = (r: { code: number; out: string; err: string }) => assert.equal(r.code, 0, `kubectl failed: ${r.err}`);

describe('kubectl against the test API server', () => {
  it('applies a CRD server-side, waits for it, and lists its objects with their printer columns', async () => {
    ok(await kubectl('apply', '--server-side', '-f', file('crd.json', httpRouteCrd())));
    ok(
      await kubectl(
        'wait',
        '--for',
        'condition=established',
        '--timeout=20s',
        'crd/httproutes.gateway.networking.k8s.io',
      ),
    );
    const route = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'shop' },
      spec: { hostnames: ['shop.example.com'], rules: [{ name: 'users', backendRefs: [{ name: 'shop', port: 80 }] }] },
    };
    ok(await kubectl('apply', '--server-side', '-f', file('route.json', route)));
    const table = await kubectl('get', 'httproutes');
    ok(table);
    const [header, row] = table.out.trim().split('\n');
    assert.deepEqual(header!.split(/\s+/), ['NAME', 'HOSTNAMES', 'AGE']);
    assert.match(row!, /^shop\s+\["shop\.example\.com"\]\s+\d+s$/);
    const weight = await kubectl('get', 'httproute', 'shop', '-o', 'jsonpath={.spec.rules[0].backendRefs[0].weight}');
    assert.equal(weight.out, '1', 'defaulted by the schema');
  });

  it('applies a Deployment, reports a conflict with another field manager, and forces it', async () => {
    ok(await kubectl('apply', '--server-side', '-f', file('web.json', deployment('web', 'app:1', 3))));
    const conflict = await kubectl(
      'apply',
      '--server-side',
      '--field-manager=other',
      '-f',
      file('web5.json', deployment('web', 'app:1', 5)),
    );
    assert.notEqual(conflict.code, 0);
    assert.match(
      conflict.err,
      /Apply failed with 1 conflict: conflict with "kubectl" using apps\/v1: \.spec\.replicas/,
    );
    ok(
      await kubectl(
        'apply',
        '--server-side',
        '--field-manager=other',
        '--force-conflicts',
        '-f',
        join(dir, 'web5.json'),
      ),
    );
    await eventually(
      () => (api.get('apps/v1', 'Deployment', 'default', 'web')?.status?.readyReplicas === 5 ? true : undefined),
      'five ready',
    );
    const table = await kubectl('get', 'deploy');
    ok(table);
    assert.match(table.out, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\nweb\s+5\/5\s+5\s+5\s+\d+s\n$/);
    const all = await kubectl('get', 'all');
    ok(all);
    assert.match(all.out, /deployment\.apps\/web/);
    ok(await kubectl('scale', 'deployment', 'web', '--replicas=2'));
    assert.equal(api.get('apps/v1', 'Deployment', 'default', 'web')!.spec.replicas, 2);
    ok(await kubectl('delete', 'deployment', 'web'));
    assert.equal(api.get('apps/v1', 'Deployment', 'default', 'web'), undefined);
  });
});
