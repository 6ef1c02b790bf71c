import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { suiteUpstreams } from '../helpers/http.js';
import { sendMany } from '../helpers/load.js';
import { startTestRouter, type TestRouter } from '../helpers/router.js';

const ups = suiteUpstreams();
const pools = () => ({ stable: [ups.stable.url], canary: [ups.canary.url] });

const cookie = (user: string) => ({ cookie: `kanari-svc=${user}` });
const keysOf = async (router: TestRouter) => (await router.admin('GET', '/stats')).json;

describe('stickiness keys on a live router', () => {
  let router: TestRouter;
  before(async () => {
    router = await startTestRouter({
      pools: pools(),
      weights: { canary: 100 },
      match: [{ header: { name: 'x-canary', exact: 'always' }, version: 'canary' }],
    });
  });
  after(() => router.close());

  it('counts a sticky client failing many times on the canary as one failed key, and all its requests', async () => {
    const replies = await sendMany(router.port, 40, 4, () => ({ path: '/status/503', headers: cookie('bot') }));
    assert.ok(replies.every((r) => r.status === 503));
    const stats = await keysOf(router);
    assert.equal(stats.versions.canary.requests['5xx'], 40);
    assert.deepEqual([stats.versions.canary.keys.seen, stats.versions.canary.keys.failed], [1, 1]);
    assert.equal(stats.keyTracking.tracked, 1);
  });

  it('leaves header-routed requests out of the keys, and counts a new user given a cookie', async () => {
    await sendMany(router.port, 5, 1, () => ({ headers: { ...cookie('tester'), 'x-canary': 'always' } }));
    await sendMany(router.port, 1, 1);
    const stats = await keysOf(router);
    assert.equal(stats.versions.canary.requests['2xx'], 6);
    assert.equal(stats.versions.canary.keys.seen, 2, 'the bot and the user without a cookie; not the tester');
  });

  it('starts a new epoch, empty, when a table sends nobody to the canary', async () => {
    const epoch = (await keysOf(router)).keyTracking.epoch;
    await router.setTable({ pools: pools(), weights: { canary: 0 } });
    const stats = await keysOf(router);
    assert.equal(stats.keyTracking.epoch, epoch + 1);
    assert.deepEqual(stats.versions.canary.keys, { seen: 0, failed: 0, slow: [] });
    assert.equal(stats.keyTracking.tracked, 0);
  });
});

describe('stickiness keys with workers', () => {
  let router: TestRouter;
  before(async () => {
    router = await startTestRouter({ pools: pools(), weights: { canary: 100 } }, { workers: 2 });
  });
  after(() => router.close());

  it('counts one key served by both workers once, from the primary', async () => {
    // Separate connections, so the kernel spreads them over both workers.
    const replies = await Promise.all(
      Array.from({ length: 8 }, () =>
        sendMany(router.port, 10, 1, () => ({ path: '/status/500', headers: cookie('u') })),
      ),
    );
    assert.equal(replies.flat().length, 80);
    const stats = await keysOf(router);
    assert.equal(stats.workers, 2);
    assert.equal(stats.versions.canary.requests['5xx'], 80);
    assert.deepEqual([stats.versions.canary.keys.seen, stats.versions.canary.keys.failed], [1, 1]);
  });
});
