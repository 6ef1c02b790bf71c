/**
 * The sequential judge on a real router, counting users: two copies of the same app (A/A)
 * behind a router at 5%, light users who each send one request, and one heavy client whose
 * cookie is pinned to a canary bucket and whose own requests fail often — the same on
 * either version. Today's request-level test reads that client's errors as the canary's
 * and rolls back; the per-user default counts it once and does not. Then a real 5× error
 * regression spread over many users is rolled back by the per-user default.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { analysisTemplateSpec } from '../../src/config/schemas/analysis.js';
import { StatsRecorder } from '../../src/analysis/providers/builtin.js';
import { Providers } from '../../src/analysis/providers/index.js';
import { AnalysisRun } from '../../src/analysis/run.js';
import { murmur3 } from '../../src/router/hash.js';
import { bucketOf } from '../../src/router/split.js';
import { keepLoading } from '../helpers/load.js';
import { startTestRouter, type TestRouter } from '../helpers/router.js';
import { watchdog } from '../helpers/watchdog.js';

/** An app whose requests fail when the client says so (its own errors) or at `errorRate`. */
async function app(errorRate: number): Promise<{ port: number; close(): void }> {
  const server = http.createServer((req, res) => {
    req.resume();
    const fail = req.headers['x-fail'] === '1' || Math.random() < errorRate;
    res.writeHead(fail ? 500 : 200, { 'content-type': 'text/plain' }).end(fail ? 'failed' : 'ok');
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

/** A cookie value the router puts in a canary bucket at `weight` percent. */
function canaryKey(service: string, weight: number): string {
  for (let i = 0; ; i++) if (bucketOf(`heavy-${i}`, murmur3(service)) < weight * 100) return `heavy-${i}`;
}

/** Request i fails on its own (either version) when it is the `offset`-th of every `every`. */
const ownFailure = (i: number, every: number, offset = 0): Record<string, string> =>
  i % every === offset ? { 'x-fail': '1' } : {};

const ERRORS = { metrics: [{ name: 'errors', kind: 'errors' }], srm: false };

interface Live {
  router: TestRouter;
  recorder: StatsRecorder;
  runs: Record<string, AnalysisRun>;
  close(): Promise<void>;
}

async function live(stableErrors: number, canaryErrors: number, weight: number, units: string[]): Promise<Live> {
  const [stable, canary] = [await app(stableErrors), await app(canaryErrors)];
  const router = await startTestRouter({
    pools: { stable: [`http://127.0.0.1:${stable.port}`], canary: [`http://127.0.0.1:${canary.port}`] },
    weights: { canary: weight },
  });
  const recorder = new StatsRecorder();
  recorder.record((await router.admin('GET', '/stats')).json);
  const share = weight / 100;
  const env = {
    service: 'svc',
    providers: new Providers(),
    recorder,
    expectedShareAt: () => ({ requests: share, keys: share, control: 'stable' as const }),
  };
  const now = Date.now();
  const runs = Object.fromEntries(
    units.map((unit) => [
      unit,
      AnalysisRun.start(unit, analysisTemplateSpec.parse({ sequential: { ...ERRORS, unit } }), 'background', now, env),
    ]),
  );
  return {
    router,
    recorder,
    runs,
    async close() {
      await router.close();
      stable.close();
      canary.close();
    },
  };
}

/** The errors metric's counts so far: failing users (or failed requests) per side. */
function errorsPart(run: AnalysisRun): { canary: { events: number }; control: { events: number } } {
  const details = run.report().metrics[0]?.details as
    { parts: { canary: { events: number }; control: { events: number } }[] } | undefined;
  return details?.parts[0] ?? { canary: { events: 0 }, control: { events: 0 } };
}

/**
 * What the controller does each second: read the stats, tick the runs; until `done`, or
 * fails saying how far it got when `seconds` pass (so a slow machine fails with the counts,
 * not a timeout that names nothing).
 */
async function watch(w: Live, seconds: number, what: string, done: () => boolean): Promise<void> {
  const end = Date.now() + seconds * 1000;
  let rounds = 0;
  while (!done()) {
    dog.at(`watching for ${what} (round ${rounds})`);
    if (Date.now() > end) {
      const runs = Object.entries(w.runs).map(([unit, run]) => {
        const part = errorsPart(run);
        return `${unit}: ${run.report().verdict}, errors canary ${part.canary.events} / control ${part.control.events}`;
      });
      throw new Error(`not ${what} within ${seconds} s (${rounds} rounds; ${runs.join('; ')})`);
    }
    await new Promise((r) => setTimeout(r, 500));
    w.recorder.record((await w.router.admin('GET', '/stats')).json);
    for (const run of Object.values(w.runs)) await run.tick(Date.now());
    rounds++;
  }
}

// In full runs this file has hung, and never alone: if it does again, it says where.
const dog = watchdog('users-live', 240_000);

// Each test's own timeout, below the file's 300 s, so a hang is reported under the test's name.
describe('users as the unit, on a real router', () => {
  const worlds: Live[] = [];
  after(async () => {
    dog.at('closing the routers and apps');
    for (const w of worlds) await w.close();
    dog.done();
  });

  it(
    'a heavy client failing on its own is rolled back by the request count, not by the per-user default',
    { timeout: 85_000 },
    async () => {
      dog.at('starting the first world');
      const w = await live(0, 0, 5, ['requests', 'auto']);
      worlds.push(w);
      const heavy = canaryKey('svc', 5);
      // Light users: a request each (a new cookie each), one in 40 failing on its own. Which
      // users those are, and so which version each met, is fixed rather than drawn: where
      // they fall is then an ordinary A/A draw (42 of 750 on the canary, at its 5% share;
      // the e-value's path peaks at 1.1, far from 20), so the test cannot fail by the
      // judge's own α — drawn at random, this A/A alone failed about one run in fifty.
      const light = keepLoading(w.router.port, 6, (i) => ({
        headers: { cookie: `kanari-svc=light-${i}`, ...ownFailure(i, 40, 3) },
      }));
      let client: ReturnType<typeof keepLoading> | undefined;
      try {
        // Some users have failed on both sides before the heavy client shows up: where it is
        // pinned (not drawn, as the argument assumes), its one failing user weighs most when
        // it is among the first.
        await watch(w, 60, 'twenty failing users on control', () => errorsPart(w.runs.auto!).control.events >= 20);
        // The heavy client: one cookie, pinned to the canary, a fifth of its requests failing on their own.
        client = keepLoading(w.router.port, 2, (i) => ({
          headers: { cookie: `kanari-svc=${heavy}`, ...ownFailure(i, 5) },
        }));
        await watch(w, 60, 'failed by the request count', () => w.runs.requests!.report().verdict === 'Failed');
        // Three more seconds in which the per-user test could (wrongly) fail too.
        const more = Date.now() + 3000;
        await watch(w, 10, 'three seconds more', () => Date.now() > more);
      } finally {
        await Promise.all([light.stop(), client?.stop()]);
      }
      assert.deepEqual([...light.errors, ...client!.errors].map(String), [], 'every request answered');
      const requests = w.runs.requests!.report();
      const users = w.runs.auto!.report();
      assert.equal(requests.verdict, 'Failed', `the request-level test: ${requests.reason}`);
      assert.notEqual(users.verdict, 'Failed', `the per-user test: ${users.reason}`);
      const part = errorsPart(w.runs.auto!);
      // The client's many failures count once: the canary's failing users are at most the
      // light ones the router sent there (which, is fixed: see above) and the client. (Not a
      // ratio of the client's failures to them: how many requests each sends before the
      // request count fails depends on how busy the machine is.)
      const sent = light.replies.length + light.errors.length;
      let lightOnCanary = 0;
      for (let i = 3; i < sent; i += 40) if (bucketOf(`light-${i}`, murmur3('svc')) < 5 * 100) lightOnCanary++;
      const failures = client!.replies.filter((r) => r.status === 500).length;
      assert.ok(part.canary.events >= 1, 'the heavy client counted as a failing user');
      assert.ok(
        part.canary.events <= lightOnCanary + 1,
        `the heavy client's ${failures} failures counted once: ${part.canary.events} failing canary users, ` +
          `of whom ${lightOnCanary} light ones at most`,
      );
    },
  );

  it(
    'a 5× error regression spread across many users is rolled back by the per-user default',
    { timeout: 85_000 },
    async () => {
      dog.at('starting the second world');
      const w = await live(0.01, 0.05, 20, ['auto']);
      worlds.push(w);
      const load = keepLoading(w.router.port, 8);
      try {
        await watch(w, 60, 'failed by the per-user default', () => w.runs.auto!.report().verdict === 'Failed');
      } finally {
        await load.stop();
      }
      const r = w.runs.auto!.report();
      assert.equal(r.verdict, 'Failed', r.reason);
      assert.match(r.reason, /of its users met an error/);
    },
  );
});
