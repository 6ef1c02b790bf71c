/**
 * `kanari demo` end to end: v1 and v2 of the demo app run as processes started by the
 * process target, kanari's router in front of them, a few thousand users with their own
 * cookies, and a canary rollout of v2 judged every second by the sequential template —
 * the same engine, store and router `kanari up` uses, in one process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_VERSION } from '../config/schemas/common.js';
import { loopbackRouter } from '../config/schemas/router.js';
import { rolloutDocument, type RolloutDocument } from '../config/schemas/rollout.js';
import type { RolloutEngine } from '../rollout/engine.js';
import { analysisTemplateSpec } from '../config/schemas/analysis.js';
import type { RolloutStatus } from '../rollout/types.js';
import type { RoutingTable } from '../config/schemas/table.js';
import { AdminClient } from '../router/client.js';
import { startRouter, type RouterHandle } from '../router/run.js';
import { Store } from '../store/sqlite.js';
import { standaloneEngine } from '../server/compose.js';
import { ownModuleCommand } from '../targets/process.js';
import { startLoad, type LoadCounts } from './load.js';

export type Scenario = 'good' | 'bad' | 'slow';

export interface DemoOptions {
  scenario: Scenario;
  /** Seconds each weight is held before the next (the plan is 5% → 25% → 50% → 100%). */
  holdSeconds: number;
  users: number;
  /** The judge's false-rollback budget for the whole rollout (default 0.01). */
  alpha?: number;
  /** Called every second with what happened in it. */
  onSecond?: (s: DemoSecond) => void;
  onMessage?: (line: string) => void;
}

export interface DemoSecond {
  elapsed: number;
  status: RolloutStatus;
  load: LoadCounts;
  /** The background analysis' score, 0–100. */
  score?: number;
}

export interface DemoResult {
  status: RolloutStatus;
  /** One sentence, with the evidence, for a rollback. */
  evidence?: string;
  requests: number;
  /** Requests that failed between the user and the app (not the app's own 500s). */
  failures: number;
  appErrors: Map<string, number>;
  /** Seconds from the deploy to the end. */
  seconds: number;
}

const VERSIONS: Record<Scenario, { errorRate: number; latencyMs: number }> = {
  good: { errorRate: 0.002, latencyMs: 8 },
  bad: { errorRate: 0.05, latencyMs: 8 },
  slow: { errorRate: 0.002, latencyMs: 24 },
};
const STABLE = { errorRate: 0.002, latencyMs: 8 };

export function demoDocument(o: Pick<DemoOptions, 'scenario' | 'holdSeconds'>): RolloutDocument {
  const v2 = VERSIONS[o.scenario];
  const hold = { pause: { duration: `${o.holdSeconds}s` } };
  return rolloutDocument.parse({
    apiVersion: API_VERSION,
    kind: 'Rollout',
    metadata: { name: 'demo' },
    spec: {
      listen: '127.0.0.1:0',
      stable: { version: 'v1', process: { command: appCommand('v1', STABLE) } },
      canary: { process: { command: appCommand('v2', v2) } },
      sticky: { cookie: 'kanari-demo' },
      strategy: {
        canary: {
          analysis: { templates: ['sequential'] },
          steps: [{ setWeight: 5 }, hold, { setWeight: 25 }, hold, { setWeight: 50 }, hold],
        },
      },
    },
  });
}

/** The demo app as a shell command, run from the built file or, under tsx, from source. */
function appCommand(name: string, b: { errorRate: number; latencyMs: number }): string {
  const app = new URL(`./app.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url);
  return ownModuleCommand(app, [
    '--name',
    name,
    '--error-rate',
    String(b.errorRate),
    '--latency-ms',
    String(b.latencyMs),
  ]);
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const dir = mkdtempSync(join(tmpdir(), 'kanari-demo-'));
  const say = o.onMessage ?? (() => {});
  const store = new Store(join(dir, 'kanari.db'));
  const doc = demoDocument(o);
  let router: RouterHandle | undefined;
  let routerUp!: () => void;
  const routerStarted = new Promise<void>((r) => (routerUp = r));
  const token = 'demo-token-not-secret';
  let admin: AdminClient | undefined;
  const connect = async (table: RoutingTable) => {
    router = await startRouter(
      loopbackRouter('demo', token, {
        listen: '127.0.0.1:0',
        state: join(dir, 'router-table.json'),
        sticky: doc.spec.sticky,
        table,
      }),
    );
    admin = new AdminClient(router.adminUrl, router.token);
    routerUp();
    return admin;
  };
  const stats = () => (admin ? admin.stats() : Promise.resolve(undefined));
  // The built-in template with a smaller α: a demo that rolls back a good v2 1 run in 70 teaches the wrong thing.
  const templates = { sequential: analysisTemplateSpec.parse({ sequential: { alpha: o.alpha ?? 0.01 } }) };
  const engine = standaloneEngine({
    document: doc,
    templates,
    store,
    connect,
    stats,
    logDir: join(dir, 'logs'),
    log: (line) => say(`  · ${line}`),
  });
  engine.start();
  let load: ReturnType<typeof startLoad> | undefined;
  const totals = { requests: 0, failures: 0, appErrors: new Map<string, number>() };
  try {
    await withTimeout(routerStarted, 30_000, 'v1 did not start');
    say(
      `v1 runs; kanari's router listens on http://127.0.0.1:${router!.address.port}; ${o.users} users start sending requests`,
    );
    load = startLoad({ host: '127.0.0.1', port: router!.address.port }, { users: o.users, concurrency: 8 });
    await sleep(2000);
    const deployed = Date.now();
    const t = await engine.send({ type: 'deploy', release: { version: 'v2', target: doc.spec.canary } });
    if (t.rejected) throw new Error(t.rejected);
    const deadline = deployed + (6 * o.holdSeconds + 120) * 1000;
    while (!engine.status.result && Date.now() < deadline) {
      await sleep(1000);
      const w = load.take();
      totals.requests += w.requests;
      totals.failures += w.failures;
      o.onSecond?.({
        elapsed: Math.round((Date.now() - deployed) / 1000),
        status: engine.status,
        load: w,
        ...scoreOf(engine),
      });
    }
    await load.stop();
    const w = load.take();
    totals.requests += w.requests;
    totals.failures += w.failures;
    load = undefined;
    const status = engine.status;
    if (!status.result)
      throw new Error(
        `the rollout did not end within ${Math.round((deadline - deployed) / 1000)} s (phase ${status.phase})`,
      );
    return { status, ...evidenceOf(engine), ...totals, seconds: Math.round((status.result.at - deployed) / 1000) };
  } finally {
    await load?.stop();
    await engine.close({ stopInstances: true });
    admin?.close();
    await router?.close(1000);
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function scoreOf(engine: RolloutEngine): { score?: number } {
  const bg = engine.status.analyses.find((a) => a.scope === 'background');
  const score = bg ? engine.report(bg.id)?.score : undefined;
  return score === undefined ? {} : { score };
}

function evidenceOf(engine: RolloutEngine): { evidence?: string } {
  const failed = engine.status.analyses.find((a) => a.verdict === 'Failed' || a.verdict === 'Error');
  const metric = failed ? engine.report(failed.id)?.metrics.find((m) => m.verdict === 'Failed') : undefined;
  return metric ? { evidence: `${metric.name}: ${metric.summary}` } : {};
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms)),
  );
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
