/**
 * `kanari token` against a real `kanari up`: tokens made, listed and revoked from the CLI,
 * each acting with its role through KANARI_TOKEN, `kanari history` naming who did what,
 * only hashes in the SQLite file, and all of it across a restart; and a state directory
 * from before tokens had roles, whose api-token becomes the admin token.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, mock } from 'node:test';
import { main } from '../../src/cli/main.js';
import { ApiClient, readControllerFile } from '../../src/server/client.js';
import { holdingRollout, listenPort, UpFixture } from '../helpers/controller.js';

/**
 * `kanari ARGS` run in this process with KANARI_TOKEN set to `token` (the state's own when
 * undefined): main() as the binary runs it, without a second or two of starting Node and
 * tsx per command. (The first `token create` runs as a process of its own.)
 */
async function kanari(token: string | undefined, ...args: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const log = mock.method(console, 'log', (...a: unknown[]) => stdout.push(a.join(' ')));
  const error = mock.method(console, 'error', (...a: unknown[]) => stderr.push(a.join(' ')));
  const saved = process.env.KANARI_TOKEN;
  if (token === undefined) delete process.env.KANARI_TOKEN;
  else process.env.KANARI_TOKEN = token;
  try {
    const status = await main(args);
    return { status, stdout: stdout.map((l) => l + '\n').join(''), stderr: stderr.join('\n') };
  } finally {
    log.mock.restore();
    error.mock.restore();
    if (saved === undefined) delete process.env.KANARI_TOKEN;
    else process.env.KANARI_TOKEN = saved;
  }
}

/** The status of an API call with `token`, or its refusal's status and words (what the CLI is not needed to show). */
async function callAs(state: string, token: string, path: string): Promise<string> {
  try {
    await new ApiClient(readControllerFile(state)!.url, token).get(path);
    return '200';
  } catch (err) {
    return `${(err as { status: number }).status} ${(err as Error).message}`;
  }
}

describe('kanari token', () => {
  it('makes, lists and revokes tokens that act with their roles, and history says who did what, across a restart', async () => {
    const f = new UpFixture();
    const port = await listenPort();
    const as = (token: string | undefined, ...args: string[]) => kanari(token, ...args, '--state', f.state);
    try {
      await f.up();
      const tokenFile = join(f.state, 'api-token');
      const local = readFileSync(tokenFile, 'utf8').trim();
      assert.match(local, /^kanari_[0-9a-f]{16}_[\w-]{43}$/);
      assert.equal(statSync(tokenFile).mode & 0o777, 0o600);

      const made = await f.cli('token', 'create', '--role', 'operator', '--name', 'ci');
      assert.equal(made.status, 0, made.stderr);
      const ci = made.stdout.trim();
      assert.match(ci, /^kanari_[0-9a-f]{16}_[\w-]{43}$/, 'the token alone on stdout');
      assert.match(made.stderr, /^token ci \(operator, id [0-9a-f]{16}, expires 20\d\d-\d\d-\d\d .*\): printed once/);
      const watch = (
        await as(undefined, 'token', 'create', '--role', 'viewer', '--name', 'watch', '--expires', 'never')
      ).stdout.trim();

      // What a person gets wrong, with the exit codes scripts rely on.
      const dup = await as(undefined, 'token', 'create', '--role', 'viewer', '--name', 'ci');
      const role = await as(undefined, 'token', 'create', '--role', 'root', '--name', 'x');
      const lifetime = await as(undefined, 'token', 'create', '--role', 'viewer', '--name', 'x', '--expires', '1y');
      const listed = await as(ci, 'token', 'list');
      assert.equal(dup.status, 1, dup.stderr);
      assert.match(dup.stderr, /a token named ci exists already: revoke it first/);
      assert.equal(role.status, 2);
      assert.match(role.stderr, /--role must be one of viewer, operator, admin \(got "root"\)/);
      assert.equal(lifetime.status, 2);
      assert.match(lifetime.stderr, /--expires must be a duration from 1m to 3650d/);

      // Each token does what its role may, and is told which role it lacks for the rest.
      assert.equal(listed.status, 1);
      assert.match(listed.stderr, /this needs the admin role; the token ci has operator/);
      const file = f.write('shop.yaml', holdingRollout('shop', port, 20));
      assert.equal((await as(undefined, 'apply', '-f', file)).status, 0);
      await f.serving('shop');
      const deployed = await as(ci, 'deploy', 'shop', '--version', 'v2');
      assert.equal(deployed.status, 0, deployed.stderr);
      await f.until('shop', (v) => v.phase === 'Paused' && v.weights.canary === 20);
      const viewerPromotes = await as(watch, 'promote', 'shop');
      assert.equal(viewerPromotes.status, 1);
      assert.match(viewerPromotes.stderr, /needs the operator role; the token watch has viewer/);
      assert.equal(await callAs(f.state, watch, '/api/v1/rollouts/shop'), '200');
      assert.equal((await as(ci, 'promote', 'shop')).status, 0);

      const history = await as(watch, 'history', 'shop');
      assert.match(
        history.stdout,
        /apply \(created\) {2}\(by local\)[\s\S]*deploy v2 {2}\(by ci\)[\s\S]*promote {2}\(by ci\)/,
      );
      const { events } = await f.api.get<{ events: { type: string; data: { actor?: string } }[] }>(
        '/api/v1/rollouts/shop/history',
      );
      assert.deepEqual(
        events.filter((e) => e.data.actor).map((e) => `${e.type} ${e.data.actor}`),
        ['apply local', 'deploy ci', 'promote ci'],
      );

      const list = await as(undefined, 'token', 'list');
      assert.equal(list.status, 0, list.stderr);
      assert.match(list.stdout, /^ID +NAME +ROLE +CREATED +EXPIRES +LAST USED +REVOKED\n/);
      assert.match(list.stdout, /\n[0-9a-f]{16} +ci +operator +20\S+ \S+ +20\S+ \S+ +20\S+ \S+ +-\n/);
      assert.match(list.stdout, /\n[0-9a-f]{16} +watch +viewer +20\S+ \S+ +never +/);
      assert.ok(![ci, watch, local].some((t) => list.stdout.includes(t.slice(24))), 'no secret listed');

      // The database holds each token's hash and never the token.
      const db = Buffer.concat(
        ['kanari.db', 'kanari.db-wal']
          .map((n) => join(f.state, n))
          .filter(existsSync)
          .map((p) => readFileSync(p)),
      );
      for (const t of [ci, watch, local]) {
        assert.equal(db.includes(t.slice(24)), false, 'no secret in the database');
        assert.equal(db.includes(createHash('sha256').update(t).digest()), true, 'its hash is there');
      }

      const revoked = await as(undefined, 'token', 'revoke', 'ci');
      assert.equal(revoked.status, 0, revoked.stderr);
      assert.match(revoked.stdout, /^token ci \([0-9a-f]{16}\) revoked at 20.* by local\n$/);
      assert.match(await callAs(f.state, ci, '/api/v1/rollouts'), /^401 the bearer token ci \(\w+\) was revoked at/);

      await f.kill9();
      await f.up();
      assert.equal(readFileSync(tokenFile, 'utf8').trim(), local, 'the admin token is kept');
      assert.equal(await callAs(f.state, watch, '/api/v1/whoami'), '200', 'a token outlives the controller');
      assert.match(await callAs(f.state, ci, '/api/v1/whoami'), /^401 .*revoked/, 'and so does a revocation');
      const after = await f.api.get<{ tokens: { name: string; revokedBy?: string }[] }>('/api/v1/tokens');
      assert.deepEqual(
        after.tokens.map((t) => [t.name, t.revokedBy]),
        [
          ['local', undefined],
          ['ci', 'local'],
          ['watch', undefined],
        ],
      );
    } finally {
      await f.close();
    }
  });

  it('takes the api-token of a state directory from before roles as its admin token, and replaces it once revoked', async () => {
    const f = new UpFixture();
    try {
      mkdirSync(f.state, { recursive: true, mode: 0o700 });
      // What kanari up wrote before: 24 random bytes, base64url.
      const legacy = randomBytes(24).toString('base64url');
      writeFileSync(join(f.state, 'api-token'), legacy + '\n', { mode: 0o600 });
      await f.up();
      const list = await kanari(undefined, 'token', 'list', '--state', f.state);
      assert.equal(list.status, 0, list.stderr);
      assert.match(list.stdout, /\n[0-9a-f]{16} +local +admin +20\S+ \S+ +never +20/);
      assert.equal(readFileSync(join(f.state, 'api-token'), 'utf8'), legacy + '\n', 'the file is left as it was');

      // Revoked, it is replaced by the next kanari up, so the CLI on this host keeps working.
      assert.equal((await kanari(undefined, 'token', 'revoke', 'local', '--state', f.state)).status, 0);
      assert.match(await callAs(f.state, legacy, '/api/v1/whoami'), /^401 .*revoked/);
      await f.kill9();
      await f.up();
      const renewed = readFileSync(join(f.state, 'api-token'), 'utf8').trim();
      assert.match(renewed, /^kanari_/);
      assert.match(f.log(), /the token in .*api-token was revoked, expired or not an admin's: it holds a new one/);
      assert.equal(await callAs(f.state, renewed, '/api/v1/tokens'), '200');
    } finally {
      await f.close();
    }
  });
});
