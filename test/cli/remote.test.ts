/**
 * A controller on "another host": its own working directory and state, HTTPS with a
 * self-signed certificate made here, reached only through KANARI_URL, KANARI_TOKEN and
 * KANARI_CA; `kanari apply` from a third directory sends the file and the Kayenta config it
 * references, which the controller takes from the bundle and never from its own disk.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCliAsync, startCli } from '../helpers/cli.js';
import { upstreamRollout } from '../helpers/config.js';
import { listenPort } from '../helpers/controller.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'kanari-remote-'));
const server = join(root, 'server');
const client = join(root, 'client');
const cert = join(root, 'cert.pem');
const key = join(root, 'key.pem');
let controller: ChildProcess | undefined;
let url = '';
let token = '';

after(() => rmSync(root, { recursive: true, force: true }));

const openssl = spawnSync('openssl', ['version']).status === 0 ? false : 'openssl is not installed';

/** A self-signed certificate for `subject` with the one subjectAltName `san`. */
function makeCertificate(certFile = cert, keyFile = key, subject = '/CN=kanari-test', san = 'IP:127.0.0.1'): void {
  const r = spawnSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', subject],
      ...['-addext', `subjectAltName=${san}`],
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
}

/** The client's files: a Rollout with a Kayenta template whose config is one directory up, as in examples/. */
async function writeClientFiles(): Promise<string> {
  mkdirSync(join(client, 'rollouts'), { recursive: true });
  mkdirSync(join(client, 'judge'));
  copyFileSync(join(EXAMPLES, 'judge', 'canary-config.json'), join(client, 'judge', 'canary-config.json'));
  const template = readFileSync(join(EXAMPLES, 'analysis', 'kayenta.yaml'), 'utf8');
  const file = join(client, 'rollouts', 'shop.yaml');
  writeFileSync(
    file,
    `${upstreamRollout('shop', await listenPort(), ['setWeight: 10', 'analysis: { templates: [kayenta-strict] }'])}---\n${template}`,
  );
  return file;
}

const remoteEnv = (extra: Record<string, string> = {}) => {
  const env: NodeJS.ProcessEnv = { ...process.env, KANARI_URL: url, KANARI_TOKEN: token, KANARI_CA: cert, ...extra };
  delete env.KANARI_STATE;
  return env;
};

describe('a remote controller over HTTPS', { skip: openssl }, () => {
  before(async () => {
    mkdirSync(server);
    makeCertificate();
    const started = await startCli(
      ['up', '--state', 'state', '--listen', '0.0.0.0:0', '--tls-cert', cert, '--tls-key', key],
      /kanari controller on https/,
      { cwd: server },
    );
    controller = started.child;
    url = (JSON.parse(readFileSync(join(server, 'state', 'controller.json'), 'utf8')) as { url: string }).url;
    token = readFileSync(join(server, 'state', 'api-token'), 'utf8').trim();
  });
  after(async () => {
    if (controller && controller.exitCode === null) {
      const exited = once(controller, 'exit');
      await runCliAsync(['down', '--all'], { cwd: client, env: remoteEnv() });
      await exited;
    }
  });

  it('takes kanari apply from another directory, with the file it references', async () => {
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const file = await writeClientFiles();
    const r = await runCliAsync(['apply', '-f', 'rollouts/shop.yaml'], { cwd: client, env: remoteEnv() });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /rollout shop created/);
    const status = await runCliAsync(['status', 'shop'], { cwd: client, env: remoteEnv() });
    assert.equal(status.status, 0, status.stderr);
    assert.ok(file);
  });

  it('is reached by the CLI on its own host through controller.json, its certificate checked for its CN', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, KANARI_CA: cert };
    for (const name of ['KANARI_STATE', 'KANARI_URL', 'KANARI_TOKEN']) delete env[name];
    const file = JSON.parse(readFileSync(join(server, 'state', 'controller.json'), 'utf8')) as { servername?: string };
    assert.equal(file.servername, 'kanari-test');
    const r = await runCliAsync(['status', '--state', 'state'], { cwd: server, env });
    assert.equal(r.status, 0, r.stderr);
  });

  it('refuses a certificate it was not told to trust, and says how to', async () => {
    const r = await runCliAsync(['status'], { cwd: client, env: remoteEnv({ KANARI_CA: '' }) });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /certificate is not trusted: set KANARI_CA/);
  });

  it('reads nothing from its own disk for a bundle, and locates what is missing in the user’s file', async () => {
    // The config exists at that path on this (shared) host; the bundle leaves it out.
    const file = join(client, 'rollouts', 'shop.yaml');
    const text = readFileSync(file, 'utf8');
    const answer = await post('/api/v1/apply', { file, text, bundle: { root: client, files: {} } });
    assert.equal(answer.status, 400, answer.body);
    const issue = (JSON.parse(answer.body) as { issues: { file: string; line: number; message: string }[] }).issues[0]!;
    assert.equal(issue.file, file);
    assert.equal(text.split('\n')[issue.line - 1]!.trim(), 'config: ../judge/canary-config.json');
    assert.match(issue.message, /cannot read the canary config .*canary-config\.json: is not in the bundle/);
  });

  it('refuses bundle paths that climb out, are absolute, or are too many', async () => {
    const text = readFileSync(join(client, 'rollouts', 'shop.yaml'), 'utf8');
    for (const path of ['../x.json', '/etc/passwd', 'a/../../x', 'a//b', './x', 'a\\..\\x', '']) {
      const r = await post('/api/v1/apply', {
        file: '/x/shop.yaml',
        text,
        bundle: { root: '/x', files: { [path]: '{}' } },
      });
      assert.equal(r.status, 400, `${path}: ${r.body}`);
      assert.match(r.body, /bundle/);
    }
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`f${i}.json`, '{}']));
    const r = await post('/api/v1/apply', { file: '/x/shop.yaml', text, bundle: { root: '/x', files: many } });
    assert.equal(r.status, 400, r.body);
    assert.match(r.body, /at most 64 files/);
  });

  it("marks a browser's session cookie Secure over TLS, under the __Host- prefix", async () => {
    const r = await post('/auth/sign-in', { token });
    assert.equal(r.status, 204, r.body);
    assert.match(
      r.setCookie[0]!,
      /^__Host-kanari_session=[\w-]{43}; HttpOnly; SameSite=Lax; Path=\/; Max-Age=43200; Secure$/,
    );
  });
});

describe('a controller on a wildcard address, with a certificate for its host name only', { skip: openssl }, () => {
  const home = join(root, 'named');
  const named = join(root, 'named-cert.pem');
  let up: ChildProcess | undefined;
  const env = (extra: Record<string, string> = {}) => {
    const e: NodeJS.ProcessEnv = { ...process.env, KANARI_CA: named, ...extra };
    for (const name of ['KANARI_STATE', 'KANARI_URL', 'KANARI_TOKEN']) if (!(name in extra)) delete e[name];
    return e;
  };
  before(async () => {
    mkdirSync(home);
    // The usual certificate: for the host's name, not for 127.0.0.1; its CN is not that name.
    makeCertificate(named, join(root, 'named-key.pem'), '/CN=someone-else', 'DNS:kanari.test');
    const started = await startCli(
      [
        'up',
        '--state',
        'state',
        '--listen',
        '0.0.0.0:0',
        '--tls-cert',
        named,
        '--tls-key',
        join(root, 'named-key.pem'),
      ],
      /kanari controller on https/,
      { cwd: home },
    );
    up = started.child;
  });
  after(async () => {
    if (up && up.exitCode === null) {
      up.kill('SIGTERM');
      await once(up, 'exit');
    }
  });

  it('is reached by the CLI on the same host, checking the name the certificate is for', async () => {
    const r = await runCliAsync(['status', '--state', 'state'], { cwd: home, env: env() });
    assert.equal(r.status, 0, r.stderr);
  });

  it('says a name mismatch is one, not a matter of trust', async () => {
    const file = JSON.parse(readFileSync(join(home, 'state', 'controller.json'), 'utf8')) as { url: string };
    const r = await runCliAsync(['status'], {
      cwd: home,
      env: env({ KANARI_URL: file.url, KANARI_TOKEN: readFileSync(join(home, 'state', 'api-token'), 'utf8').trim() }),
    });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /ERR_TLS_CERT_ALTNAME_INVALID.*certificate is for DNS:kanari\.test, not 127\.0\.0\.1/);
    assert.doesNotMatch(r.stderr, /not trusted/);
  });

  it('is stopped by kanari down on the same host', async () => {
    const exited = once(up!, 'exit');
    const r = await runCliAsync(['down', '--state', 'state'], { cwd: home, env: env() });
    assert.equal(r.status, 0, r.stderr);
    await exited;
  });
});

describe('KANARI_URL naming another host', () => {
  const home = join(root, 'local');
  const env = (extra: Record<string, string>) => {
    const e: NodeJS.ProcessEnv = { ...process.env, ...extra };
    for (const name of ['KANARI_STATE', 'KANARI_TOKEN', 'KANARI_CA', 'KANARI_INSECURE'])
      if (!(name in extra)) delete e[name];
    return e;
  };
  before(() => {
    // A local token that must stay here.
    mkdirSync(join(home, '.kanari'), { recursive: true });
    writeFileSync(join(home, '.kanari', 'api-token'), 'local-secret\n');
  });

  it('needs KANARI_TOKEN: the local token is not sent elsewhere (exit 2)', async () => {
    const r = await runCliAsync(['status'], { cwd: home, env: env({ KANARI_URL: 'https://kanari.invalid:7070' }) });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /KANARI_URL names another host .*set KANARI_TOKEN/);
  });

  it('refuses plain http:// there unless KANARI_INSECURE=1 (exit 2)', async () => {
    const url = 'http://kanari.invalid:7070';
    const refused = await runCliAsync(['status'], { cwd: home, env: env({ KANARI_URL: url, KANARI_TOKEN: 't' }) });
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /plain http:\/\/ .*KANARI_INSECURE=1/);
    const allowed = await runCliAsync(['status'], {
      cwd: home,
      env: env({ KANARI_URL: url, KANARI_TOKEN: 't', KANARI_INSECURE: '1' }),
    });
    assert.equal(allowed.status, 3, allowed.stderr);
    assert.match(allowed.stderr, /cannot reach the controller at http:\/\/kanari\.invalid:7070/);
  });

  it('still reads the local token for a loopback KANARI_URL', async () => {
    const r = await runCliAsync(['status'], { cwd: home, env: env({ KANARI_URL: 'http://127.0.0.1:1' }) });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /cannot reach the controller at http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/);
  });
});

describe('kanari up off loopback', () => {
  for (const [args, why] of [
    [['--listen', '0.0.0.0:0'], /is not a loopback address.*--tls-cert and --tls-key, or --insecure/],
    [['--listen', '0.0.0.0:0', '--tls-cert', cert], /--tls-cert and --tls-key go together/],
    [
      ['--listen', '0.0.0.0:0', '--tls-cert', '/nonexistent/c', '--tls-key', '/nonexistent/k'],
      /cannot read the TLS certificate \/nonexistent\/c/,
    ],
  ] as const) {
    it(`refuses ${args.join(' ')} with exit 2`, async () => {
      const r = await runCliAsync(['up', '--state', join(root, 'refused'), ...args]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, why);
    });
  }

  it('serves plain HTTP there with --insecure', async () => {
    const started = await startCli(
      ['up', '--state', join(root, 'insecure'), '--listen', '0.0.0.0:0', '--insecure'],
      /kanari controller on http:/,
    );
    const exited = once(started.child, 'exit');
    started.child.kill('SIGTERM');
    await exited;
  });
});

function post(path: string, body: unknown): Promise<{ status: number; body: string; setCookie: string[] }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${url}${path}`,
      {
        method: 'POST',
        ca: readFileSync(cert),
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: text, setCookie: res.headers['set-cookie'] ?? [] }),
        );
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
