import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION } from '../../src/config/schemas/common.js';
import { sharedRouterDocument } from '../../src/config/schemas/router.js';
import type { RoutingTableInput } from '../../src/config/schemas/table.js';
import { startSharedRouter, type RouterHandle, type SharedRouterHandle } from '../../src/router/run.js';
import type { StatsSnapshot } from '../../src/shared/stats-snapshot.js';

const TOKEN = 'test-token-0123456789';
/** The neighbours route to a port nothing listens on: they are never meant to be reached. */
const NEIGHBOUR = { listen: '127.0.0.1:0', table: { pools: { stable: ['http://127.0.0.1:9'] } } };

/**
 * A service named svc with `table` and `spec`, as service 2 of 3 in one shared router
 * process. Closing it checks that services 1 and 3 were left alone: still at their first
 * table, not one request or refusal counted, and still answering on their listeners.
 */
export async function startAsMiddleService(
  table: RoutingTableInput,
  spec: Record<string, unknown>,
): Promise<RouterHandle> {
  const { state, workers, admin, ...service } = spec;
  if (state !== undefined || workers !== undefined || admin !== undefined)
    throw new Error('a shared router has no per-service state, workers or admin: run this test alone');
  const stateDir = mkdtempSync(join(tmpdir(), 'kanari-shared-router-'));
  const doc = sharedRouterDocument.parse({
    apiVersion: API_VERSION,
    kind: 'SharedRouter',
    metadata: { name: 'shared' },
    spec: {
      admin: { listen: '127.0.0.1:0', token: TOKEN },
      stateDir,
      services: [
        { name: 'svc-1', ...NEIGHBOUR },
        { name: 'svc', listen: '127.0.0.1:0', ...service, table },
        { name: 'svc-3', ...NEIGHBOUR },
      ],
    },
  });
  const shared = await startSharedRouter(doc);
  const svc = shared.services().find((s) => s.name === 'svc');
  if (!svc?.address) {
    await shared.close(0);
    throw new Error(`service svc did not open: ${svc?.reason}`);
  }
  return {
    address: { address: svc.address.host, port: svc.address.port, family: 'IPv4' },
    adminUrl: shared.adminUrl,
    token: shared.token,
    statePath: join(stateDir, 'services', 'svc', 'router-table.json'),
    async close(graceMs) {
      let untouched: Error | undefined;
      try {
        await checkNeighbours(shared);
      } catch (err) {
        untouched = err as Error;
      }
      await shared.close(graceMs);
      if (untouched) throw untouched;
    },
  };
}

async function checkNeighbours(shared: SharedRouterHandle): Promise<void> {
  for (const name of ['svc-1', 'svc-3']) {
    const res = await fetch(`${shared.adminUrl}/services/${name}/stats`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    if (res.status !== 200) throw new Error(`neighbour ${name}: GET stats answered ${res.status}`);
    const snap = (await res.json()) as StatsSnapshot;
    const counted = Object.values(snap.versions).reduce(
      (n, v) => n + Object.values(v.requests).reduce((a, b) => a + b, 0),
      0,
    );
    const refused = Object.values(snap.rejected).reduce((a, b) => a + b, 0);
    if (snap.revision !== 1 || counted !== 0 || refused !== 0)
      throw new Error(
        `neighbour ${name} was touched by svc's test: revision ${snap.revision}, ${counted} requests, ${refused} refused`,
      );
    const summary = shared.services().find((s) => s.name === name);
    const answer = await fetch(`http://127.0.0.1:${summary!.address!.port}/`);
    await answer.arrayBuffer();
    if (answer.status !== 502 && answer.status !== 503)
      throw new Error(`neighbour ${name} answered ${answer.status}, not 502/503 (no upstream)`);
  }
}
