// A kubeconfig as kubectl writes it (embedded certificates, contexts with namespaces, and an
// exec plugin) is read by kanari as kubectl reads it: the same server, client certificate,
// namespace and plugin token. Debian's kubectl (1.20) on a fresh machine, so only what it can do.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureDebian } from '../../scripts/ensure-debian.mjs';
import { kubeClient } from '../../src/kube/http-client.js';
import { loadKubeConnection } from '../../src/kube/kubeconfig.js';
import { makeTestCerts, type TestCerts } from '../helpers/kube/certs.js';
import { sendJson, startScriptedServer, type ScriptedServer } from '../helpers/kube/scripted-server.js';

const CORE = { kind: 'APIResourceList', resources: [{ name: 'configmaps', kind: 'ConfigMap', namespaced: true }] };

describe('a kubeconfig written by kubectl', () => {
  let certs: TestCerts;
  let server: ScriptedServer;
  let kubeconfig: string;
  before(async () => {
    ensureDebian([['kubectl', 'kubernetes-client']]);
    certs = makeTestCerts();
    server = await startScriptedServer(
      (req, res) =>
        req.url === '/api/v1'
          ? sendJson(res, 200, CORE)
          : sendJson(res, 200, {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              metadata: { name: 'web', resourceVersion: '1' },
            }),
      { cert: certs.serverCert, key: certs.serverKey, clientCa: certs.ca, clientCertOptional: true },
    );
    mkdirSync(join(certs.dir, 'bin'));
    const plugin = join(certs.dir, 'bin', 'get-token');
    writeFileSync(
      plugin,
      '#!/bin/sh\nprintf \'{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"%s-%s"}}\' "$1" "$TEAM"\n',
    );
    chmodSync(plugin, 0o755);
    kubeconfig = join(certs.dir, 'kubeconfig');
    const kubectl = (...args: string[]) =>
      execFileSync('kubectl', [...args, `--kubeconfig=${kubeconfig}`], { stdio: 'pipe' });
    kubectl(
      'config',
      'set-cluster',
      'test',
      `--server=${server.url}`,
      `--certificate-authority=${join(certs.dir, 'ca.crt')}`,
      '--embed-certs=true',
    );
    // kubectl 1.20 (built with a newer Go) panics when set-credentials creates a user: each is created first, then filled.
    kubectl('config', 'set', 'users.admin.token', 'placeholder');
    kubectl(
      'config',
      'set-credentials',
      'admin',
      `--client-certificate=${join(certs.dir, 'client.crt')}`,
      `--client-key=${join(certs.dir, 'client.key')}`,
      '--embed-certs=true',
    );
    kubectl('config', 'set', 'users.sso.token', 'placeholder');
    // In a directory of its own: kubectl writes a path relative to the kubeconfig, and one
    // without a slash would be looked up in $PATH when read (by kubectl as by kanari).
    kubectl(
      'config',
      'set-credentials',
      'sso',
      `--exec-command=${plugin}`,
      '--exec-api-version=client.authentication.k8s.io/v1beta1',
      '--exec-arg=eu',
      '--exec-env=TEAM=shop',
    );
    for (const user of ['admin', 'sso']) kubectl('config', 'unset', `users.${user}.token`);
    kubectl('config', 'set-context', 'admin@test', '--cluster=test', '--user=admin', '--namespace=payments');
    kubectl('config', 'set-context', 'sso@test', '--cluster=test', '--user=sso');
    kubectl('config', 'use-context', 'admin@test');
  });
  after(() => server?.close());

  it('reaches the server with the embedded client certificate and the context namespace', async () => {
    const conn = loadKubeConnection({ kubeconfig, env: { HOME: '/nonexistent' } });
    assert.equal(conn.namespace, 'payments');
    const client = kubeClient(conn);
    await client.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'web' });
    client.close();
    const last = server.received.at(-1)!;
    assert.equal(last.url, '/api/v1/namespaces/payments/configmaps/web');
    assert.equal(last.clientCert, 'kanari-test');
  });

  it('runs the exec plugin with the args and env kubectl wrote', async () => {
    const conn = loadKubeConnection({ kubeconfig, context: 'sso@test', env: { HOME: '/nonexistent' } });
    assert.equal(conn.namespace, 'default');
    const client = kubeClient(conn);
    await client.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'web' });
    client.close();
    assert.equal(server.received.at(-1)!.headers.authorization, 'Bearer eu-shop');
  });
});
