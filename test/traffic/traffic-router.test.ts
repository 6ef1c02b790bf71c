/**
 * The traffic router conformance suite against the fake and against kanari's own router
 * (a real router on 127.0.0.1); then what only the embedded one does: its failures as
 * the seam's types, and the factory that refuses a router it does not know.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RoutingTable } from '../../src/config/schemas/table.js';
import { loopbackRouter } from '../../src/config/schemas/router.js';
import { sameTraffic, TrafficConflict, TrafficRefused, TrafficUnreachable } from '../../src/rollout/seams/traffic.js';
import type { TrafficState } from '../../src/rollout/types.js';
import { AdminClient, AdminError } from '../../src/router/client.js';
import { startRouter, type RouterHandle } from '../../src/router/run.js';
import { EmbeddedTraffic } from '../../src/traffic/embedded/traffic.js';
import { trafficRouterFor } from '../../src/traffic/index.js';
import { trafficRouterConformance } from '../conformance/traffic-router.js';
import { FakeTraffic } from '../helpers/fakes.js';

trafficRouterConformance('fake', () => Promise.resolve({ router: new FakeTraffic(), close: () => Promise.resolve() }));

trafficRouterConformance('embedded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kanari-traffic-'));
  let router: RouterHandle | undefined;
  let admin: AdminClient | undefined;
  const connect = async (table: RoutingTable) => {
    router = await startRouter(
      loopbackRouter('shop', 'test-token-0123456789', { state: join(dir, 'table.json'), table }),
    );
    admin = new AdminClient(router.adminUrl, router.token);
    return admin;
  };
  return Promise.resolve({
    router: trafficRouterFor('embedded', { connect }),
    close: async () => {
      admin?.close();
      await router?.close(100);
    },
  });
});

const state: TrafficState = { stable: 'v1', canary: 'v2', weights: { canary: 10, baseline: 0 }, routes: [], mirror: 0 };
const endpoints = (id: string) => [`http://127.0.0.1:${id === 'v1' ? 9101 : 9102}`];

/** An admin client whose table reads and writes answer as a test says. */
function adminAnswering(setTable: () => Promise<void>): AdminClient {
  return {
    table: () => Promise.resolve({ revision: 1, table: { pools: { stable: [] } } }),
    setTable,
    close: () => {},
  } as unknown as AdminClient;
}

describe('embedded traffic router', () => {
  it('a revision conflict that persists is a TrafficConflict (after one retry), not a match on "409"', async () => {
    let writes = 0;
    const router = new EmbeddedTraffic(() =>
      Promise.resolve(
        adminAnswering(() => {
          writes++;
          return Promise.reject(new AdminError('router refused the table: 409 revision moved', 409));
        }),
      ),
    );
    await assert.rejects(router.apply(state, endpoints), TrafficConflict);
    assert.equal(writes, 2, 'retried once');
  });

  it('another refusal is TrafficRefused; a router out of reach is TrafficUnreachable', async () => {
    const refusing = new EmbeddedTraffic(() =>
      Promise.resolve(adminAnswering(() => Promise.reject(new AdminError('router refused the table: 507 full', 507)))),
    );
    await assert.rejects(refusing.apply(state, endpoints), TrafficRefused);
    const gone = new EmbeddedTraffic(() =>
      Promise.resolve(new AdminClient(`unix:${join(tmpdir(), 'kanari-no-such.sock')}`, 'token', 500)),
    );
    await assert.rejects(gone.apply(state, endpoints), TrafficUnreachable);
    const neverStarts = new EmbeddedTraffic(() => Promise.reject(new Error('the router is not serving: port taken')));
    await assert.rejects(neverStarts.apply(state, endpoints), (err: Error) => {
      assert.ok(err instanceof TrafficUnreachable);
      assert.match(err.message, /port taken/, 'the reason is kept');
      return true;
    });
  });

  it('observe() reads the router, not its own memory: a table another writer put there is not the state asked for', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-traffic-'));
    let handle: RouterHandle | undefined;
    let admin: AdminClient | undefined;
    const router = new EmbeddedTraffic(async (table) => {
      handle = await startRouter(
        loopbackRouter('shop', 'test-token-0123456789', { state: join(dir, 'table.json'), table }),
      );
      admin = new AdminClient(handle.adminUrl, handle.token);
      return admin;
    });
    try {
      await router.apply(state, endpoints);
      assert.ok(sameTraffic(await router.observe(), state));
      const { revision, table } = await admin!.table();
      await admin!.setTable({ ...table, weights: { canary: 50, baseline: 0 } }, revision);
      const observed = await router.observe();
      assert.equal(observed?.weights.canary, 50, 'the weight the router serves');
      assert.ok(!sameTraffic(observed, state));
    } finally {
      admin?.close();
      await handle?.close(100);
    }
  });

  it('observe() says nothing before a router was reached', async () => {
    const router = new EmbeddedTraffic(() => Promise.reject(new Error('not yet')));
    assert.equal(await router.observe(), undefined);
  });
});

describe('trafficRouterFor', () => {
  it('refuses a router it does not know, naming the ones it does (never a silent fallback)', () => {
    assert.throws(() => trafficRouterFor('istio', {}), /no traffic router named "istio" \(known: embedded\)/);
    assert.throws(() => trafficRouterFor('toString', {}), /no traffic router named "toString"/);
  });
});
