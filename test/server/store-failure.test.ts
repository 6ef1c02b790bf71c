/**
 * The controller's SQLite store stops taking writes (a full disk) in the middle of a
 * rollout: taking users off the canary must not wait for it. The disk is filled for
 * real, for the controller alone: `prlimit --fsize=0` on its pid makes every write that
 * would grow a file fail with EFBIG, which SQLite reports as a disk I/O error.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readControllerFile } from '../../src/server/client.js';
import { alive, holdingRollout, listenPort, UpFixture } from '../helpers/controller.js';
import { byVersion, sendMany } from '../helpers/load.js';

const prlimit = spawnSync('prlimit', ['--version'], { encoding: 'utf8' });
const noPrlimit =
  prlimit.status === 0 ? false : `prlimit (util-linux) is not installed: ${prlimit.error?.message ?? prlimit.stderr}`;

/** Every write that grows a file fails for `pid` (bytes = 0), or works again (unlimited): the soft limit only, which needs no privilege to raise. */
function fileSizeLimit(pid: number, bytes: number | 'unlimited'): void {
  const r = spawnSync('prlimit', [`--fsize=${bytes}:`, '--pid', String(pid)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

/** Which version served each of 40 users (each with its own cookie). */
async function usersOn(port: number): Promise<Record<string, number>> {
  return byVersion(await sendMany(port, 40, 4, (i) => ({ headers: { cookie: `shop-user=u${i}` } })));
}

/** Polls the router's table until the canary's weight is `canary`. */
async function waitForTable(f: UpFixture, canary: number) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const t = await f.table('shop');
    if (t.table.weights.canary === canary) return t;
    if (Date.now() > deadline)
      throw new Error(`the router's canary weight is still ${t.table.weights.canary}\n${f.log()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// Each has its own controller, ports and limited pid, and mostly waits on the rollout:
// the two run side by side.
describe('a full disk under kanari up', { concurrency: true }, () => {
  describe('a controller whose store cannot be written', () => {
    it(
      'still takes users off the canary, for an abort and for an automatic rollback, and refuses to move any onto it (finding 7)',
      { skip: noPrlimit },
      async () => {
        const f = new UpFixture();
        const port = await listenPort();
        const users = () => usersOn(port);
        try {
          await f.up();
          const controller = readControllerFile(f.state)!.pid;
          await f.deployPaused('shop', f.write('shop.yaml', holdingRollout('shop', port, 50)), 'v2', 50);
          assert.ok(((await users()).v2 ?? 0) > 0, 'v2 serves some users');

          // 1. An abort while the store fails: users leave v2 at once; the answer says it is not saved.
          fileSizeLimit(controller, 0);
          let r = await f.cli('abort', 'shop', '--reason', 'disk full drill');
          assert.equal(r.status, 0, r.stdout + r.stderr);
          const aborted = await waitForTable(f, 0);
          assert.equal(aborted.table.weights.canary, 0);
          assert.deepEqual(await users(), { v1: 40 }, 'every user is back on v1');
          // The rollback finishes (v2 drained and stopped) with the store still refusing writes.
          let view = await f.until('shop', (v) => v.phase === 'Aborted');
          assert.match(view.store?.error ?? '', /cannot save .*(disk I\/O error|too large)/);

          // Moving users onto a version waits for the store: a restart would undo it.
          r = await f.cli('deploy', 'shop', '--version', 'v3');
          assert.equal(r.status, 1, r.stdout + r.stderr);
          assert.match(r.stderr, /cannot be saved/);
          assert.ok(alive(controller), 'the controller is still running');

          // 2. An automatic rollback (the canary crashes) while the store fails.
          fileSizeLimit(controller, 'unlimited');
          await f.until('shop', (v) => v.phase === 'Aborted' && v.store === undefined);
          assert.equal((await f.cli('deploy', 'shop', '--version', 'v3')).status, 0);
          await f.until('shop', (v) => v.phase === 'Paused' && v.weights.canary === 50);
          fileSizeLimit(controller, 0);
          process.kill(-f.record('shop', 'instance:v3')!.pids[0]!, 'SIGKILL');
          await waitForTable(f, 0);
          assert.deepEqual(await users(), { v1: 40 });
          assert.ok(alive(controller), 'the controller is still running');
          view = await f.view('shop');
          assert.match(view.message, /v3 failed/);

          // Once the disk takes writes again, what happened is saved.
          fileSizeLimit(controller, 'unlimited');
          view = await f.until('shop', (v) => v.result?.outcome === 'RolledBack' && v.store === undefined);
          r = await f.cli('history', 'shop');
          assert.match(r.stdout, /RolledBack v3/);
        } finally {
          await f.close();
        }
      },
    );
  });

  describe('a router whose disk is full', () => {
    it(
      'keeps serving and takes users off the canary, though it can neither save its table nor write its log',
      { skip: noPrlimit },
      async () => {
        const f = new UpFixture();
        const port = await listenPort();
        const users = () => usersOn(port);
        try {
          await f.up();
          await f.deployPaused('shop', f.write('shop.yaml', holdingRollout('shop', port, 50)), 'v2', 50);
          const router = f.record('shop', 'router')!.pids[0]!;

          // The router's log (its stdout) and its table file are on the full disk; the controller's store is not.
          fileSizeLimit(router, 0);
          assert.equal((await f.cli('abort', 'shop', '--reason', 'disk full drill')).status, 0);
          await f.until('shop', (v) => v.phase === 'Aborted');
          for (let i = 0; i < 5; i++) {
            assert.deepEqual(await users(), { v1: 40 }, 'every user stays on v1');
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
          assert.ok(alive(router), 'the router did not die of its own log');
          assert.equal(f.record('shop', 'router')!.pids[0], router);
          assert.match((await f.view('shop')).router?.warning ?? '', /cannot save its routing table/);

          fileSizeLimit(router, 'unlimited');
          await f.until('shop', (v) => v.router?.warning === undefined, 30_000);
        } finally {
          await f.close();
        }
      },
    );
  });
});
