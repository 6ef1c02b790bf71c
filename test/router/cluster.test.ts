import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { after, before, describe, it } from 'node:test';
import { startUpstream, type TestUpstream } from '../helpers/http.js';
import { byVersion, keepLoading, sendMany } from '../helpers/load.js';
import { startTestRouter, type TestRouter } from '../helpers/router.js';

let stable: TestUpstream;
let canary: TestUpstream;
let router: TestRouter;

before(async () => {
  [stable, canary] = await Promise.all([startUpstream('stable'), startUpstream('canary')]);
  router = await startTestRouter({ pools: { stable: [stable.url], canary: [canary.url] } }, { workers: 2 });
});
after(async () => {
  await router.close();
  await Promise.all([stable.close(), canary.close()]);
});

describe('multi-core router', () => {
  it('serves from every worker and adds their stats up', async () => {
    const n = 600;
    // Separate connections so the kernel spreads them over both workers.
    const replies = await Promise.all(Array.from({ length: 6 }, () => sendMany(router.port, n / 6, 4)));
    assert.deepEqual(byVersion(replies.flat()), { stable: n });
    const { json } = await router.admin('GET', '/stats');
    assert.equal(json.workers, 2);
    assert.equal(json.versions.stable.requests['2xx'], n);
    assert.equal(json.versions.stable.latency.count, n);
  });

  it('applies a table change in every worker before answering', async () => {
    await router.setTable({ pools: { stable: [stable.url], canary: [canary.url] }, weights: { canary: 100 } });
    const replies = await Promise.all(Array.from({ length: 8 }, () => sendMany(router.port, 25, 2)));
    assert.deepEqual(byVersion(replies.flat()), { canary: 200 });
  });

  it('replaces a worker that dies, with the current table', async () => {
    const victim = Object.values(cluster.workers ?? {})[0]!;
    const load = keepLoading(router.port, 4);
    victim.process.kill('SIGKILL');
    const replaced = () => {
      const ids = Object.values(cluster.workers ?? {}).map((w) => w!.id);
      return ids.length === 2 && !ids.includes(victim.id);
    };
    for (let i = 0; i < 200 && !replaced(); i++) await new Promise((r) => setTimeout(r, 50));
    let workers = 0;
    for (let i = 0; i < 200 && workers < 2; i++) {
      workers = (await router.admin('GET', '/stats')).json.workers;
      if (workers < 2) await new Promise((r) => setTimeout(r, 50));
    }
    await load.stop();
    assert.ok(replaced(), "a new worker took the dead one's place");
    assert.equal(workers, 2, 'the new worker reports stats once it serves');
    const fresh = await Promise.all(Array.from({ length: 4 }, () => sendMany(router.port, 25, 2)));
    assert.deepEqual(byVersion(fresh.flat()), { canary: 100 });
  });
});
