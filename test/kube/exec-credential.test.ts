import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { execCredential, parseExecCredential, type ExecPlugin } from '../../src/kube/credentials.js';
import { KubeConfigError, loadKubeConnection } from '../../src/kube/kubeconfig.js';

const V1 = 'client.authentication.k8s.io/v1';

/** A shell script in a fresh directory, made executable; returns its path. */
function script(body: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kanari-exec-'));
  const file = join(dir, 'plugin');
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

function plugin(command: string, extra: Partial<ExecPlugin['config']> = {}, timeoutMs = 10_000): ExecPlugin {
  return {
    config: { apiVersion: V1, command, ...extra },
    what: 'user "eks" in ~/.kube/config',
    dir: '/',
    cluster: { server: 'https://k:1' },
    timeoutMs,
  };
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof KubeConfigError, String(err));
  assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
  return err.message;
}

describe('exec credential plugins', () => {
  it('runs the command with its args and env, gives it KUBERNETES_EXEC_INFO, and caches the token until it expires', async () => {
    const runs = join(mkdtempSync(join(tmpdir(), 'kanari-runs-')), 'runs');
    const later = new Date(Date.now() + 3600_000).toISOString();
    const command = script(
      [
        `echo run >> ${runs}`,
        `echo "$1 $REGION $KUBERNETES_EXEC_INFO" >> ${runs}`,
        `printf '{"apiVersion":"${V1}","kind":"ExecCredential","status":{"token":"tok-%s","expirationTimestamp":"${later}"}}' "$1"`,
      ].join('\n'),
    );
    const source = execCredential(
      plugin(command, { args: ['eu'], env: [{ name: 'REGION', value: 'west' }], provideClusterInfo: true }),
    );
    const [a, b] = await Promise.all([source.current(), source.current()]);
    assert.deepEqual(a, { token: 'tok-eu' });
    assert.deepEqual(b, a);
    assert.deepEqual(await source.current(), a);
    const log = readFileSync(runs, 'utf8').split('\n');
    assert.equal(log.filter((l) => l === 'run').length, 1, 'one run for three requests before expiry');
    assert.match(
      log[1]!,
      /^eu west \{"apiVersion":"client\.authentication\.k8s\.io\/v1","kind":"ExecCredential","spec":\{"interactive":false,"cluster":\{"server":"https:\/\/k:1"\}\}\}$/,
    );
    assert.equal(source.expire(), true);
    await source.current();
    assert.equal(
      readFileSync(runs, 'utf8')
        .split('\n')
        .filter((l) => l === 'run').length,
      2,
      'run again after a 401',
    );
  });

  it('runs the plugin again once its credential has expired', async () => {
    const runs = join(mkdtempSync(join(tmpdir(), 'kanari-runs-')), 'runs');
    const past = new Date(Date.now() - 1000).toISOString();
    const command = script(
      `echo run >> ${runs}\nprintf '{"apiVersion":"${V1}","kind":"ExecCredential","status":{"token":"t","expirationTimestamp":"${past}"}}'`,
    );
    const source = execCredential(plugin(command));
    await source.current();
    await source.current();
    assert.equal(readFileSync(runs, 'utf8').trim().split('\n').length, 2);
  });

  it('says why a plugin failed, in one line, within its timeout', async () => {
    const started = Date.now();
    assert.match(
      await refusal(execCredential(plugin(script('sleep 30'), {}, 500)).current()),
      /^the exec plugin ".*plugin" of user "eks" in ~\/\.kube\/config failed: no answer within 0\.5 s \(stopped\)$/,
    );
    assert.ok(Date.now() - started < 10_000, 'a hanging plugin is stopped, not waited for');
    assert.match(
      await refusal(
        execCredential(
          plugin(script('echo "starting" >&2\necho "error: SSO session expired; run aws sso login" >&2\nexit 3')),
        ).current(),
      ),
      /failed: exit status 3: error: SSO session expired; run aws sso login$/,
    );
    assert.match(
      await refusal(
        execCredential(
          plugin('kanari-no-such-plugin', { installHint: 'Install it with: brew install it\nmore' }),
        ).current(),
      ),
      /failed: cannot run it: no such file or directory \(ENOENT\); Install it with: brew install it$/,
    );
    assert.match(
      await refusal(execCredential(plugin(script('echo "<html>"'))).current()),
      /printed something other than JSON: <html>$/,
    );
  });

  it('checks what the plugin printed', () => {
    const name = 'the plugin';
    const ok = (status: unknown) => JSON.stringify({ apiVersion: V1, kind: 'ExecCredential', status });
    const cases: [string, string, RegExp][] = [
      [
        'another version',
        JSON.stringify({
          apiVersion: 'client.authentication.k8s.io/v1beta1',
          kind: 'ExecCredential',
          status: { token: 't' },
        }),
        /other than an ExecCredential of client\.authentication\.k8s\.io\/v1$/,
      ],
      [
        'no status',
        JSON.stringify({ apiVersion: V1, kind: 'ExecCredential' }),
        /neither status\.token nor status\.clientCertificateData/,
      ],
      ['a token that is a number', ok({ token: 5 }), /a status\.token that is not a string/],
      [
        'a certificate without its key',
        ok({ clientCertificateData: 'PEM' }),
        /clientCertificateData and clientKeyData without the other/,
      ],
      [
        'a bad expiry',
        ok({ token: 't', expirationTimestamp: 'soon' }),
        /expirationTimestamp that is not a time: soon$/,
      ],
      ['a list', '[1]', /other than an ExecCredential/],
    ];
    for (const [label, stdout, expected] of cases) {
      assert.throws(
        () => parseExecCredential(stdout, V1, name),
        (err: Error) => err instanceof KubeConfigError && expected.test(err.message),
        label,
      );
    }
    assert.deepEqual(parseExecCredential(ok({ clientCertificateData: 'C', clientKeyData: 'K' }), V1, name), {
      credential: { cert: 'C', key: 'K' },
      expires: Infinity,
    });
  });

  it('is reached from a kubeconfig, with a relative command found beside it', async () => {
    const command = script(
      `printf '{"apiVersion":"${V1}","kind":"ExecCredential","status":{"token":"from-kubeconfig"}}'`,
    );
    const dir = join(command, '..');
    writeFileSync(
      join(dir, 'config'),
      `current-context: x\nclusters:\n- name: c\n  cluster:\n    server: https://k:1\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: ${V1}\n      command: ./plugin\n      interactiveMode: Never\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n`,
    );
    const conn = loadKubeConnection({ kubeconfig: join(dir, 'config'), env: { HOME: '/nonexistent' } });
    assert.deepEqual(await conn.credentials.current(), { token: 'from-kubeconfig' });
  });
});
