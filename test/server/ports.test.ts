/**
 * A port someone else holds: `kanari up --listen`, `kanari router -f` (its listen or its
 * admin port) and a rollout's router must each say so and stop, never print a stack or
 * hang, and a rollout whose router cannot bind must not be reported as serving.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RolloutView } from '../../src/server/view.js';
import { runCliAsync } from '../helpers/cli.js';
import { holdingRollout, listenPort, UpFixture } from '../helpers/controller.js';

/** Holds 127.0.0.1:`port` as another program would. */
async function hold(port: number): Promise<Server> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return server;
}

/** `kanari ARGS`, killed if it has not exited within 30 s (status -1). */
function runWithin(args: string[]) {
  return runCliAsync(args, { timeout: 30_000 });
}

/** What the view says about the rollout's router. */
function routerOf(v: RolloutView): { serving: boolean; reason?: string } | undefined {
  return (v as { router?: { serving: boolean; reason?: string } }).router;
}

// Each test holds its own ports; the last one mostly waits out the router's retries: they run side by side.
describe('a port already in use', { concurrency: true }, () => {
  it('kanari up --listen: exit 2 with the reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-port-'));
    const port = await listenPort();
    const taken = await hold(port);
    try {
      const r = await runWithin(['up', '--state', join(dir, 'state'), '--listen', `127.0.0.1:${port}`]);
      assert.notEqual(r.status, -1, 'kanari up exited');
      assert.equal(r.status, 2, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `^kanari up: cannot listen on 127\\.0\\.0\\.1:${port} \\(--listen\\): the address is already in use`,
          'm',
        ),
      );
      assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
    } finally {
      taken.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('kanari router -f: a taken listen port or admin port is exit 2 with the reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-port-'));
    const [port, adminPort] = [await listenPort(), await listenPort()];
    const file = join(dir, 'router.yaml');
    writeFileSync(
      file,
      `apiVersion: kanari.dev/v1alpha1
kind: Router
metadata: { name: svc }
spec:
  listen: 127.0.0.1:${port}
  admin: { listen: 127.0.0.1:${adminPort}, token: test-token-0123456789 }
  state: table.json
  table: { pools: { stable: [http://127.0.0.1:9] } }
`,
    );
    try {
      for (const [held, key] of [
        [port, 'spec.listen'],
        [adminPort, 'spec.admin.listen'],
      ] as const) {
        const taken = await hold(held);
        try {
          const r = await runWithin(['router', '-f', file]);
          assert.notEqual(r.status, -1, `kanari router exited with ${key} taken`);
          assert.equal(r.status, 2, r.stderr);
          assert.match(
            r.stderr,
            new RegExp(
              `^kanari router: cannot listen on 127\\.0\\.0\\.1:${held} \\(${key.replace(/\./g, '\\.')}\\): the address is already in use`,
              'm',
            ),
          );
          assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
        } finally {
          taken.close();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a rollout whose router cannot bind is reported as not serving, and a deploy is refused until it serves', async () => {
    const f = new UpFixture();
    const port = await listenPort();
    let taken: Server | undefined = await hold(port);
    try {
      const file = f.write('shop.yaml', holdingRollout('shop', port, 20));
      await f.up();
      assert.equal((await f.cli('apply', '-f', file)).status, 0);
      const view = await f.until('shop', (v) => routerOf(v)?.serving === false, 60_000);
      assert.match(
        routerOf(view)!.reason!,
        new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} \\(spec\\.listen\\): the address is already in use`),
      );
      let r = await f.cli('status', 'shop');
      assert.match(r.stdout, new RegExp(`router +NOT SERVING for \\d+s: cannot listen on 127\\.0\\.0\\.1:${port}`));
      r = await f.cli('deploy', 'shop', '--version', 'v2');
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /the router of shop is not serving/);
      assert.equal((await f.view('shop')).phase, 'StableOnly', 'nothing moved');

      // Once the port is free, the router starts on its own and the rollout can go on.
      taken.close();
      taken = undefined;
      await f.until('shop', (v) => routerOf(v)?.serving === true, 60_000);
      assert.equal((await f.cli('deploy', 'shop', '--version', 'v2')).status, 0);
      await f.until('shop', (v) => v.phase === 'Paused' && v.weights.canary === 20);
    } finally {
      taken?.close();
      await f.close();
    }
  });
});
