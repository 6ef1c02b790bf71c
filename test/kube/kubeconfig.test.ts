import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { KubeConfigError, loadKubeConnection, type KubeConnectionOptions } from '../../src/kube/kubeconfig.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const PEM64 = Buffer.from(PEM).toString('base64');
/** A real certificate and key (test/fixtures/kube/README.md): the client's are checked to be usable. */
const CLIENT_CERT = readFileSync('test/fixtures/kube/client.crt', 'utf8');
const CLIENT_KEY = readFileSync('test/fixtures/kube/client.key', 'utf8');

/** A home directory with `files` in it (paths relative to it); returns its path. */
function home(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'kanari-kubeconfig-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

function kubeconfig(parts: { current?: string; clusters?: string; users?: string; contexts?: string }): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    parts.current ? `current-context: ${parts.current}` : '',
    parts.clusters ? `clusters:\n${parts.clusters}` : '',
    parts.users ? `users:\n${parts.users}` : '',
    parts.contexts ? `contexts:\n${parts.contexts}` : '',
  ].join('\n');
}

const cluster = (name: string, server: string, extra = '') =>
  `- name: ${name}\n  cluster:\n    server: ${server}\n${extra}`;
const context = (name: string, clusterName: string, user?: string, namespace?: string) =>
  `- name: ${name}\n  context:\n    cluster: ${clusterName}\n${user ? `    user: ${user}\n` : ''}${namespace ? `    namespace: ${namespace}\n` : ''}`;
const user = (name: string, body: string) => `- name: ${name}\n  user:\n${body}`;

function load(dir: string, options: KubeConnectionOptions = {}, env: NodeJS.ProcessEnv = {}) {
  return loadKubeConnection({ ...options, env: { HOME: dir, ...env } });
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof KubeConfigError || err instanceof ConfigError, `not a kubeconfig error: ${String(err)}`);
    assert.ok(!err.message.includes('\n    at '), 'no stack in the message');
    return err.message;
  }
  assert.fail('expected a refusal');
}

describe('kubeconfig', () => {
  it('reads ~/.kube/config: server, namespace, token', async () => {
    const dir = home({
      '.kube/config': kubeconfig({
        current: 'dev',
        clusters: cluster('c1', 'https://kube.example:6443/'),
        users: user('u1', '    token: abc\n'),
        contexts: context('dev', 'c1', 'u1', 'shop'),
      }),
    });
    const conn = load(dir);
    assert.equal(conn.server, 'https://kube.example:6443');
    assert.equal(conn.namespace, 'shop');
    assert.deepEqual(await conn.credentials.current(), { token: 'abc' });
    assert.equal(conn.credentials.expire(), false, 'a fixed token cannot get better by asking again');
    assert.equal(conn.origin, 'context "dev" of ~/.kube/config');
    assert.equal(conn.user, 'u1', "the kubeconfig's name for the user: who a command says it is from");
    assert.equal(load(dir, { namespace: 'other' }).namespace, 'other', 'the flag wins over the context');
  });

  it('merges $KUBECONFIG as kubectl does: first file wins per name, first current-context wins; missing files skipped', () => {
    const dir = home({
      a: kubeconfig({ clusters: cluster('c', 'https://first:1'), contexts: context('x', 'c') }),
      b: kubeconfig({
        current: 'y',
        clusters: cluster('c', 'https://second:2') + cluster('d', 'https://fourth:4'),
        contexts: context('x', 'd') + context('y', 'c'),
      }),
      c: kubeconfig({ current: 'x' }),
    });
    const env = { KUBECONFIG: [join(dir, 'a'), join(dir, 'missing'), join(dir, 'b'), join(dir, 'c')].join(':') };
    const conn = load(dir, {}, env);
    assert.equal(conn.server, 'https://first:1', 'context y of b names cluster c, which a defined first');
    assert.equal(conn.namespace, 'default');
    assert.equal(load(dir, { context: 'x' }, env).server, 'https://first:1', 'context x of a, not of b');
    assert.match(
      refusal(() => load(dir, {}, { KUBECONFIG: `${join(dir, 'nope')}::${join(dir, 'nada')}` })),
      /none of the files \$KUBECONFIG names exists/,
    );
  });

  it('names the file and the field of what is wrong', () => {
    const cases: [string, string, RegExp][] = [
      [
        'a context naming a user the file lacks',
        kubeconfig({ current: 'prod', clusters: cluster('c', 'https://k:1'), contexts: context('prod', 'c', 'admin') }),
        /^context "prod" names user "admin", which ~\/\.kube\/config does not have$/,
      ],
      [
        'a context naming a cluster the file lacks',
        kubeconfig({ current: 'prod', contexts: context('prod', 'gone') }),
        /^context "prod" names cluster "gone", which ~\/\.kube\/config does not have$/,
      ],
      [
        'a current-context that is not there',
        kubeconfig({ current: 'prod', clusters: cluster('c', 'https://k:1'), contexts: context('dev', 'c') }),
        /^~\/\.kube\/config has no context "prod" \(it has "dev"\)$/,
      ],
      [
        'no current-context',
        kubeconfig({ clusters: cluster('c', 'https://k:1') }),
        /sets no current-context; pass --context/,
      ],
      [
        'bad base64',
        kubeconfig({
          current: 'x',
          clusters: cluster('c', 'https://k:1', '    certificate-authority-data: "not*base64"\n'),
          contexts: context('x', 'c'),
        }),
        /^~\/\.kube\/config clusters\[0\]\.cluster\.certificate-authority-data: is not base64$/,
      ],
      [
        'base64 of something that is not PEM',
        kubeconfig({
          current: 'x',
          clusters: cluster('c', 'https://k:1'),
          users: user(
            'u',
            `    client-certificate-data: ${Buffer.from('hello').toString('base64')}\n    client-key-data: ${PEM64}\n`,
          ),
          contexts: context('x', 'c', 'u'),
        }),
        /^~\/\.kube\/config users\[0\]\.user\.client-certificate-data: does not hold PEM/,
      ],
      [
        'a certificate without its key',
        kubeconfig({
          current: 'x',
          clusters: cluster('c', 'https://k:1'),
          users: user('u', `    client-certificate-data: ${PEM64}\n`),
          contexts: context('x', 'c', 'u'),
        }),
        /users\[0\]\.user has a client certificate without its key/,
      ],
      [
        'a certificate and key that are not',
        kubeconfig({
          current: 'x',
          clusters: cluster('c', 'https://k:1'),
          users: user('u', `    client-certificate-data: ${PEM64}\n    client-key-data: ${PEM64}\n`),
          contexts: context('x', 'c', 'u'),
        }),
        /^~\/\.kube\/config users\[0\]\.user: the client certificate and key cannot be used: /,
      ],
      [
        'an auth-provider plugin',
        kubeconfig({
          current: 'x',
          clusters: cluster('c', 'https://k:1'),
          users: user('u', '    auth-provider:\n      name: gcp\n'),
          contexts: context('x', 'c', 'u'),
        }),
        /auth-provider: auth-provider plugins were removed from kubectl in 1\.26; use an exec plugin/,
      ],
      [
        'a CA file that does not exist',
        kubeconfig({
          current: 'x',
          clusters: cluster('c', 'https://k:1', '    certificate-authority: certs/ca.crt\n'),
          contexts: context('x', 'c'),
        }),
        /clusters\[0\]\.cluster\.certificate-authority: cannot read ~\/\.kube\/certs\/ca\.crt: no such file or directory/,
      ],
      [
        'a server that is not a URL',
        kubeconfig({ current: 'x', clusters: cluster('c', 'kube:6443'), contexts: context('x', 'c') }),
        /clusters\[0\]\.cluster\.server: "kube:6443" is not an http or https URL/,
      ],
      [
        'a CA and insecure-skip-tls-verify',
        kubeconfig({
          current: 'x',
          clusters: cluster(
            'c',
            'https://k:1',
            `    certificate-authority-data: ${PEM64}\n    insecure-skip-tls-verify: true\n`,
          ),
          contexts: context('x', 'c'),
        }),
        /sets both a certificate authority and insecure-skip-tls-verify/,
      ],
      [
        'an exec plugin of an API version kubectl dropped',
        kubeconfig({
          current: 'x',
          clusters: cluster('c', 'https://k:1'),
          users: user(
            'u',
            '    exec:\n      apiVersion: client.authentication.k8s.io/v1alpha1\n      command: get-token\n',
          ),
          contexts: context('x', 'c', 'u'),
        }),
        /asks for client\.authentication\.k8s\.io\/v1alpha1; kanari speaks client\.authentication\.k8s\.io\/v1 and/,
      ],
      [
        'users that is a map, not a list',
        'current-context: x\nusers:\n  admin: {}\n',
        /^~\/\.kube\/config:3:3 users: .*/,
      ],
      ['YAML that does not parse', 'clusters: [\n', /^~\/\.kube\/config:\d+:\d+ /],
      ['two documents', 'clusters: []\n---\nusers: []\n', /holds more than one YAML document/],
    ];
    for (const [name, text, expected] of cases) {
      const dir = home({ '.kube/config': text });
      assert.match(
        refusal(() => load(dir)),
        expected,
        name,
      );
    }
  });

  it('reads files relative to the kubeconfig that names them, and checks they hold PEM', async () => {
    const dir = home({
      'conf/kc': kubeconfig({
        current: 'x',
        clusters: cluster(
          'c',
          'https://k:1',
          '    certificate-authority: pki/ca.crt\n    tls-server-name: kube.test\n',
        ),
        users: user('u', '    client-certificate: pki/me.crt\n    client-key: pki/me.key\n    tokenFile: pki/token\n'),
        contexts: context('x', 'c', 'u'),
      }),
      'conf/pki/ca.crt': PEM,
      'conf/pki/me.crt': CLIENT_CERT,
      'conf/pki/me.key': CLIENT_KEY,
      'conf/pki/token': 'tok-1\n',
    });
    const conn = load(dir, { kubeconfig: join(dir, 'conf/kc') });
    assert.equal(conn.tls.ca, PEM);
    assert.equal(conn.tls.serverName, 'kube.test');
    const credential = await conn.credentials.current();
    assert.equal(credential.token, 'tok-1');
    assert.equal(credential.cert, CLIENT_CERT);
    writeFileSync(join(dir, 'conf/pki/token'), 'tok-2\n');
    assert.equal(conn.credentials.expire(), true);
    assert.equal((await conn.credentials.current()).token, 'tok-2', 'a rotated token file is read again after a 401');
    assert.match(
      refusal(() => load(dir, { kubeconfig: join(dir, 'nope') })),
      /cannot read the kubeconfig .*nope: no such file/,
    );
  });

  it('in a pod: the service account, its namespace, and its token read again as it rotates', async () => {
    const dir = home({ 'sa/token': 'sa-1', 'sa/ca.crt': PEM, 'sa/namespace': 'team\n' });
    const env = { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' };
    const options = { serviceAccountDir: join(dir, 'sa') };
    const conn = load(dir, options, env);
    assert.equal(conn.server, 'https://[fd00::1]:443');
    assert.equal(conn.namespace, 'team');
    assert.equal(conn.tls.ca, PEM);
    assert.equal((await conn.credentials.current()).token, 'sa-1');
    writeFileSync(join(dir, 'sa/token'), 'sa-2');
    conn.credentials.expire();
    assert.equal((await conn.credentials.current()).token, 'sa-2');
    assert.equal(load(dir, { ...options, namespace: 'flag' }, env).namespace, 'flag');
    const bare = home({ 'sa/ca.crt': PEM });
    assert.match(
      refusal(() => load(bare, { serviceAccountDir: join(bare, 'sa') }, env)),
      /^in a pod \(KUBERNETES_SERVICE_HOST is set\) but cannot read .*sa\/token: no such file or directory/,
    );
  });

  it('says where it looked when there is no kubeconfig at all', () => {
    assert.match(
      refusal(() => load(home({}))),
      /^no kubeconfig: ~\/\.kube\/config does not exist, \$KUBECONFIG is not set, and this is not a pod/,
    );
  });
});
