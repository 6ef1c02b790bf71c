/** `kanari up` on a state directory it cannot write: a clear refusal, never a stack or a hang. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { runCliAsync, startCli } from '../helpers/cli.js';
import { listenPort } from '../helpers/controller.js';
import { unprivileged } from '../helpers/unwritable.js';

const as = unprivileged();

/** Whether anything accepts connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('kanari up on a state directory it cannot write', () => {
  it(
    'exits 2 with the reason: no stack trace, no hang, no port left open (finding 7)',
    { skip: typeof as === 'string' ? as : false },
    async () => {
      if (typeof as === 'string') return;
      const base = as.tempDir('kanari-ro-up-');
      try {
        // Three ways to meet one: a directory it may not create, an empty one, and one an earlier kanari left behind after kill -9.
        const empty = join(base, 'empty');
        mkdirSync(empty);
        const left = join(base, 'left');
        mkdirSync(left);
        as.grant(left);
        const earlier = await startCli(
          ['up', '--state', left, '--listen', '127.0.0.1:0'],
          /kanari controller on http/,
          as.user,
        );
        const exited = once(earlier.child, 'exit');
        earlier.child.kill('SIGKILL');
        await exited;
        as.revoke(base);
        as.revoke(empty);
        as.revoke(left);

        for (const state of [join(base, 'new'), empty, left]) {
          const port = await listenPort();
          const r = await runCliAsync(['up', '--state', state, '--listen', `127.0.0.1:${port}`], {
            ...as.user,
            timeout: 30_000,
          });
          assert.notEqual(r.status, -1, `kanari up on ${state} did not exit within 30 s`);
          assert.equal(r.status, 2, `${state}: ${r.stdout}${r.stderr}`);
          assert.match(
            r.stderr,
            new RegExp(`^kanari up: cannot write the state directory ${state}: .*permission denied`, 'm'),
          );
          assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
          assert.equal(await listening(port), false, 'the API port is closed');
        }
      } finally {
        rmSync(base, { recursive: true, force: true });
      }
    },
  );
});
