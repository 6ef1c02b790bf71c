/**
 * A router whose state directory stops being writable (a read-only remount, a full disk,
 * a changed owner) while users depend on it: rollback must not depend on the disk.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCli } from '../helpers/cli.js';
import { startUpstream, type TestUpstream } from '../helpers/http.js';
import { byVersion, sendMany } from '../helpers/load.js';
import { TOKEN, writeRouterFile } from '../helpers/router.js';
import { unprivileged } from '../helpers/unwritable.js';

const as = unprivileged();
let stable: TestUpstream;
let canary: TestUpstream;

before(async () => {
  [stable, canary] = await Promise.all([startUpstream('stable'), startUpstream('canary')]);
});
after(async () => {
  await Promise.all([stable.close(), canary.close()]);
});

/** `kanari router -f` as the refused user, with its table kept in `<dir>/state/table.json`. */
async function startRouterAs(user: { uid?: number; gid?: number }, dir: string) {
  const file = writeRouterFile(
    dir,
    'svc',
    '127.0.0.1:0',
    `    pools: { stable: [${stable.url}], canary: [${canary.url}] }\n    weights: { canary: 50 }\n`,
  );
  const run = await startCli(['router', '-f', file], /admin on http:\/\/127\.0\.0\.1:\d+/, user);
  const port = Number(/serving on http:\/\/127\.0\.0\.1:(\d+)/.exec(run.output())![1]);
  const adminUrl = /admin on (http:\/\/127\.0\.0\.1:\d+)/.exec(run.output())![1]!;
  const admin = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${adminUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return {
      status: res.status,
      text,
      json: (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : undefined,
    };
  };
  const users = async () => byVersion(await sendMany(port, 40, 4, (i) => ({ headers: { 'x-user-id': `user-${i}` } })));
  return { child: run.child, output: run.output, admin, users };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

const table = (canaryWeight: number, extra: Record<string, unknown> = {}) => ({
  pools: { stable: [stable.url], canary: [canary.url] },
  weights: { canary: canaryWeight },
  ...extra,
});

describe('a router whose state directory cannot be written', () => {
  it(
    'applies a table that takes users off a version and says loudly it is not saved; refuses one that moves users onto a version (finding 7)',
    { skip: typeof as === 'string' ? as : false },
    async () => {
      if (typeof as === 'string') return;
      const dir = as.tempDir('kanari-ro-router-');
      const state = join(dir, 'state');
      mkdirSync(state);
      as.grant(state);
      const router = await startRouterAs(as.user, dir);
      try {
        const before = await router.users();
        assert.ok(
          (before.canary ?? 0) > 0 && (before.stable ?? 0) > 0,
          `50/50 to start with (${JSON.stringify(before)})`,
        );
        const saved = (await router.admin('GET', '/table')).json.revision as number;

        as.revoke(state);
        // The rollback: nobody on the canary any more, saved or not.
        const off = await router.admin('PUT', '/table', table(0), { 'if-match': String(saved) });
        assert.equal(off.status, 200, off.text);
        assert.equal(off.json.revision, saved + 1);
        assert.equal(off.json.persisted, false);
        assert.match(off.json.persistError, /permission denied/);
        assert.deepEqual(await router.users(), { stable: 40 }, 'every user is back on stable');
        assert.equal((await router.admin('GET', '/table')).json.table.weights.canary, 0);
        assert.equal(
          JSON.parse(readFileSync(join(state, 'table.json'), 'utf8')).revision,
          saved,
          'the file still holds the last table it could save',
        );
        const metrics = (await router.admin('GET', '/metrics')).text;
        assert.match(metrics, /^kanari_router_table_persisted\{service="svc"\} 0$/m);
        assert.match(metrics, /^kanari_router_table_persist_failures_total\{service="svc"\} 1$/m);
        assert.match(
          router.output(),
          new RegExp(`routing table revision ${saved + 1} is applied but NOT saved .*permission denied`),
        );

        // Moving users onto a version is refused while it cannot be saved: a restart would undo it.
        for (const onto of [
          table(50),
          table(0, { match: [{ header: { name: 'x-canary', exact: 'yes' }, version: 'canary' }] }),
        ]) {
          const refused = await router.admin('PUT', '/table', onto);
          assert.equal(refused.status, 503, refused.text);
          assert.match(refused.json.error, /cannot be saved .*permission denied.*moves users onto canary/);
        }
        assert.equal((await router.admin('GET', '/table')).json.revision, saved + 1, 'nothing changed');
        assert.deepEqual(await router.users(), { stable: 40 });

        // Nor in two unsaved steps that each look like taking users off: the canary's pool is
        // emptied, then stable takes the canary's endpoint — a promotion, against the saved table.
        const emptied = await router.admin('PUT', '/table', {
          pools: { stable: [stable.url], canary: [] },
          weights: { canary: 0 },
        });
        assert.equal(emptied.status, 200, emptied.text);
        const promoted = await router.admin('PUT', '/table', {
          pools: { stable: [stable.url, canary.url], canary: [] },
          weights: { canary: 0 },
        });
        assert.equal(promoted.status, 503, promoted.text);
        assert.match(promoted.json.error, /moves users onto stable/);

        // Once the directory can be written again, tables are saved and may move users again.
        as.grant(state);
        const onto = await router.admin('PUT', '/table', table(50));
        assert.equal(onto.status, 200, onto.text);
        assert.equal(onto.json.persisted, true);
        assert.equal(JSON.parse(readFileSync(join(state, 'table.json'), 'utf8')).revision, onto.json.revision);
        assert.match(
          (await router.admin('GET', '/metrics')).text,
          /^kanari_router_table_persisted\{service="svc"\} 1$/m,
        );
      } finally {
        await stop(router.child);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
