import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loopbackRouter } from '../config/schemas/router.js';
import { listenApp } from '../demo/app.js';
import { startLoad } from '../demo/load.js';
import { startRouter } from '../router/run.js';
import { AdminClient } from '../router/client.js';
import { parseCommandArgs } from './args.js';
import { EXIT } from './exit.js';

export const summary = 'a live canary on this machine: two app versions, the router, users, weights stepping up';

const STEPS = [0, 5, 25, 50, 100];

/**
 * Until the rollout controller lands this demo drives the router's admin API itself:
 * it starts v1 and v2 of a small app, the router and a load of distinct users, then steps
 * the canary's weight and prints, every second, how the users' requests were split.
 */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('demo', argv, { 'step-seconds': { type: 'string', default: '4' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    console.log('Usage: kanari demo [--step-seconds N]\n\nRuns a canary of a demo app on 127.0.0.1, stepping its weight 5 → 25 → 50 → 100.');
    return EXIT.ok;
  }
  const stepMs = Math.max(1, Number(values['step-seconds'])) * 1000;
  const dir = mkdtempSync(join(tmpdir(), 'kanari-demo-'));
  const v1 = await listenApp({ name: 'v1', port: 0, latencyMs: 2 });
  const v2 = await listenApp({ name: 'v2', port: 0, latencyMs: 2 });
  const doc = loopbackRouter('demo', 'demo-token-not-secret', {
    state: join(dir, 'router-table.json'),
    table: { pools: { stable: [`http://127.0.0.1:${v1.port}`], canary: [`http://127.0.0.1:${v2.port}`] } },
  });
  const router = await startRouter(doc);
  const admin = new AdminClient(router.adminUrl, router.token);
  const target = { host: '127.0.0.1', port: router.address.port };
  console.log(`kanari demo: v1 on :${v1.port}, v2 on :${v2.port}, router on http://127.0.0.1:${target.port} (admin ${router.adminUrl})`);
  console.log('200 users with their own cookies send requests; kanari keeps each on one version.\n');
  const load = startLoad(target, { users: 200, concurrency: 16 });
  let failures = 0;
  try {
    for (const weight of STEPS) {
      await setCanaryWeight(admin, weight);
      console.log(`→ canary weight ${weight}%`);
      const until = Date.now() + stepMs;
      while (Date.now() < until) {
        await new Promise((r) => setTimeout(r, 1000));
        const w = load.take();
        failures += w.failures;
        const v2n = w.byVersion.get('v2') ?? 0;
        const share = w.requests ? ((100 * v2n) / w.requests).toFixed(1) : '0.0';
        console.log(`  ${String(w.requests).padStart(6)} req/s   v1 ${String(w.byVersion.get('v1') ?? 0).padStart(6)}   v2 ${String(v2n).padStart(6)}  (${share.padStart(5)}% on canary)   errors ${w.failures}`);
      }
    }
  } finally {
    await load.stop();
    await router.close();
    v1.server.close();
    v2.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\nv2 now serves everyone; ${failures} failed requests across all weight changes.`);
  console.log('The controller with automatic analysis and rollback arrives with `kanari up`; see docs/router.md for the router on its own.');
  return failures === 0 ? EXIT.ok : EXIT.failed;
}

async function setCanaryWeight(admin: AdminClient, weight: number): Promise<void> {
  const current = await admin.table();
  await admin.setTable({ ...current.table, weights: { ...current.table.weights, canary: weight } }, current.revision);
}
