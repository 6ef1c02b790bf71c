/**
 * `kanari up`'s side of signing in: the sign-in link it prints (good once), and `--oidc
 * FILE` read and refused with a reason; plain-HTTP providers stay refused outside tests.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCliAsync, startCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'kanari-up-sign-in-'));
let child: ChildProcess | undefined;
after(async () => {
  if (child && child.exitCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

describe('kanari up and signing in', () => {
  it('refuses an --oidc file it cannot use, saying what is wrong, before starting', async () => {
    const cases: [string, RegExp][] = [
      [join(dir, 'missing.yaml'), /cannot read --oidc .*missing\.yaml/],
      [file('bad.yaml', 'issuer: [unclosed'), /is not YAML/],
      [file('short.yaml', 'issuer: https://id.example.com\nclientId: kanari\n'), /roleClaim: .*; roles: /],
      [
        file(
          'nosecret.yaml',
          'issuer: https://id.example.com\nclientId: k\nroleClaim: groups\nroles: {}\nclientSecretFile: /nonexistent/s\n',
        ),
        /cannot read the client secret file \/nonexistent\/s/,
      ],
    ];
    const results = await Promise.all(
      cases.map(([f]) => runCliAsync(['up', '--state', join(dir, 'never'), '--listen', '127.0.0.1:0', '--oidc', f])),
    );
    for (const [i, r] of results.entries()) {
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, cases[i]![1]);
    }
  });

  it('prints the dashboard and a sign-in link good once, and offers single sign-on, refusing a plain-HTTP provider', async () => {
    const oidc = file(
      'oidc.yaml',
      'issuer: http://127.0.0.1:1/realm\nclientId: kanari\nroleClaim: groups\nroles: { admin: [ops] }\nlabel: Test IdP\n',
    );
    const started = await startCli(
      ['up', '--state', join(dir, 'state'), '--listen', '127.0.0.1:0', '--oidc', oidc],
      /sign-in\?code=\S+/,
      { env: { ...process.env, KANARI_OIDC_CLIENT_SECRET: 'from-the-environment' } },
    );
    child = started.child;
    const m = /dashboard: (http:\/\/127\.0\.0\.1:\d+)\/ {2}sign in \(once, within 60 s\): (\S+)/.exec(started.output());
    assert.ok(m, started.output());
    const [, api, link] = m;
    const first = await fetch(link!, { redirect: 'manual' });
    assert.equal(first.status, 303);
    assert.equal(first.headers.get('location'), '/');
    const cookie = first.headers.getSetCookie()[0]!.split(';')[0]!;
    const session = (await (await fetch(`${api}/auth/session`, { headers: { cookie } })).json()) as Record<
      string,
      unknown
    >;
    assert.deepEqual([session.actor, session.role, session.via], ['local', 'admin', 'link']);
    const second = await fetch(link!, { redirect: 'manual' });
    assert.match(second.headers.get('location')!, /^\/\?sign-in-error=/);
    assert.deepEqual(second.headers.getSetCookie(), []);
    assert.deepEqual(await (await fetch(`${api}/auth/config`)).json(), { oidc: { label: 'Sign in with Test IdP' } });
    // allowInsecureRequests is for tests only: kanari up never talks to a provider over plain HTTP.
    const start = await fetch(`${api}/auth/oidc/start`, { redirect: 'manual' });
    assert.equal(start.status, 503);
    assert.match(started.output(), /cannot reach the identity provider: .*HTTP/i);
    assert.ok(!started.output().includes('from-the-environment'), 'the secret is not printed');
  });
});
