/**
 * What `kanari up` keeps on disk holds secrets: tokens, the commands and environment of
 * every version in the SQLite file, router files and logs. All of it is readable by its
 * owner only, whatever the umask, and an older state directory is tightened on start.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { holdingRollout, listenPort, UpFixture } from '../helpers/controller.js';

/** Every entry under `dir` whose mode lets anyone but its owner in, with that mode. */
function loose(dir: string): { found: string[]; loose: string[] } {
  const found: string[] = [];
  const bad: string[] = [];
  const walk = (path: string) => {
    const st = lstatSync(path);
    const name = relative(dir, path) || '.';
    found.push(name);
    if ((st.mode & 0o077) !== 0) bad.push(`${name} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
  };
  walk(dir);
  return { found, loose: bad };
}

function loosen(path: string): void {
  const st = lstatSync(path);
  chmodSync(path, st.isDirectory() ? 0o755 : 0o644);
  if (st.isDirectory()) for (const entry of readdirSync(path)) loosen(join(path, entry));
}

describe('state files', () => {
  it('are 0600 in 0700 directories after up, apply and deploy, and an older state directory is tightened on start (finding 12)', async () => {
    // The usual umask: what kanari writes must be private whatever the umask says.
    const umask = process.umask(0o022);
    const f = new UpFixture();
    const port = await listenPort();
    try {
      await f.up();
      await f.deployPaused('shop', f.write('shop.yaml', holdingRollout('shop', port, 20)), 'v2', 20);

      const first = loose(f.state);
      for (const expected of [
        '.',
        'api-token',
        'controller.json',
        'kanari.db',
        'kanari.db-wal',
        'kanari.db-shm',
        'router/router.yaml',
        'router/admin-token',
        'router/services/shop/service.yaml',
        'router/services/shop/router-table.json',
        'router/router-0.log',
        'logs/shop/v1-0.log',
        'logs/shop/v2-0.log',
        'run/router.sock',
      ]) {
        assert.ok(
          first.found.includes(expected),
          `${expected} is in the state directory (found: ${first.found.join(', ')})`,
        );
      }
      assert.deepEqual(first.loose, [], 'nothing is readable by others');

      // A state directory an older kanari made: 0755 and 0644 throughout.
      assert.equal((await f.cli('down')).status, 0);
      await sleep(500);
      loosen(f.state);
      await f.up();
      await f.until('shop', (v) => v.phase === 'Paused');
      assert.deepEqual(loose(f.state).loose, [], 'tightened on start');
    } finally {
      await f.close();
      process.umask(umask);
    }
  });
});
