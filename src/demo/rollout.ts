/**
 * `kanari demo` end to end: v1 and v2 of the demo app run as processes started by the
 * process target, kanari's router in front of them, a few thousand users with their own
 * cookies, and a canary rollout of v2 judged every second by the sequential template —
 * the same engine, store and router `kanari up` uses, in one process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_VERSION } from '../config/schemas/common.js';
import { rolloutDocument, type RolloutDocument } from '../config/schemas/rollout.js';
import { createApiServer, urlOf } from '../server/api.js';
import { Controller } from '../server/controller.js';
import { dashboardLine, SignInCodes } from '../server/sessions.js';
import { localToken } from '../server/tokens.js';
import type { RolloutView } from '../server/view.js';
import { listenOrExplain } from '../shared/system.js';
import { freePort, ownModuleCommand } from '../targets/process.js';
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
  /**
   * Called once the rollout ended, before anything stops: while it runs, the dashboard, the
   * router and the version left serve on. `signIn` makes a new dashboard line.
   */
  keep?: (result: DemoResult, signIn: () => string, stopped: AbortSignal) => Promise<void>;
  /** Stops the demo at any point (Ctrl-C): everything it started is stopped, and runDemo rejects with DemoStopped before the end. */
  signal?: AbortSignal;
}

/** The demo was stopped before the rollout ended: by the caller's signal, or through the API's shutdown. */
export class DemoStopped extends Error {}

export interface DemoSecond {
  elapsed: number;
  status: RolloutView;
  load: LoadCounts;
  /** The background analysis' score, 0–100. */
  score?: number;
}

export interface DemoResult {
  status: RolloutView & { result: NonNullable<RolloutView['result']> };
  /** One sentence, with the evidence, for a rollback. */
  evidence?: string;
  requests: number;
  /** Requests that failed between the user and the app (not the app's own 500s). */
  failures: number;
  appErrors: Map<string, number>;
  /** Seconds from the deploy to the end. */
  seconds: number;
}

const NAME = 'demo';
/** Who deployed v2, in the rollout's history. */
const ACTOR = 'demo';

const VERSIONS: Record<Scenario, { errorRate: number; latencyMs: number }> = {
  good: { errorRate: 0.002, latencyMs: 8 },
  bad: { errorRate: 0.05, latencyMs: 8 },
  slow: { errorRate: 0.002, latencyMs: 24 },
};
const STABLE = { errorRate: 0.002, latencyMs: 8 };

export function demoDocument(o: Pick<DemoOptions, 'scenario' | 'holdSeconds'>): RolloutDocument {
  return rolloutDocument.parse(demoInput({ ...o, listen: '127.0.0.1:0' })[0]);
}

/**
 * The demo's Rollout and, beside it, the built-in sequential template with a smaller α: a
 * demo that rolls back a good v2 1 run in 70 teaches the wrong thing.
 */
function demoInput(o: Pick<DemoOptions, 'scenario' | 'holdSeconds' | 'alpha'> & { listen: string }): object[] {
  const v2 = VERSIONS[o.scenario];
  const hold = { pause: { duration: `${o.holdSeconds}s` } };
  const rollout = {
    apiVersion: API_VERSION,
    kind: 'Rollout',
    metadata: { name: NAME },
    spec: {
      listen: o.listen,
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
  };
  const template = {
    apiVersion: API_VERSION,
    kind: 'AnalysisTemplate',
    metadata: { name: 'sequential' },
    spec: { sequential: { alpha: o.alpha ?? 0.01 } },
  };
  return [rollout, template];
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
  // The API's shutdown (an admin's, say from the dashboard) stops the demo as Ctrl-C does.
  const shutdown = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, shutdown.signal]) : shutdown.signal;
  // The controller names the port of the rollout's listener; the load needs it before the router starts.
  const port = await freePort();
  const input = demoInput({ ...o, listen: `127.0.0.1:${port}` });
  // What the controller says while v1 starts is shown only if v1 does not; later, all but the status messages the per-second lines show.
  let starting: string[] | undefined = [];
  const controller: Controller = new Controller(dir, (line) => {
    const text = line.replace(/^demo: /, '');
    if (starting) starting.push(text);
    else if (!controller.names().includes(NAME) || controller.view(NAME).message !== text) say(`  · ${text}`);
  });
  const codes = new SignInCodes();
  let server: ReturnType<typeof createApiServer> | undefined;
  let load: ReturnType<typeof startLoad> | undefined;
  const totals = { requests: 0, failures: 0, appErrors: new Map<string, number>() };
  try {
    // An admin token for the API that nobody is shown: people sign in with the link.
    server = createApiServer(
      controller,
      localToken(controller.store.tokens),
      (_all, actor) => {
        say(`  · stopped through the API by ${actor}`);
        shutdown.abort();
      },
      { codes, log: (line) => say(`  · ${line}`) },
    );
    await listenOrExplain(server, 0, '127.0.0.1', 'the dashboard');
    const url = urlOf(server.address() as AddressInfo, false);
    // A Rollout with the sequential template beside it, applied as a person would (kanari apply -f).
    await controller.apply(
      join(dir, 'demo.yaml'),
      input.map((d) => JSON.stringify(d)).join('\n---\n'),
      undefined,
      ACTOR,
    );
    try {
      await waitUntil(() => controller.view(NAME).router?.serving === true, 30_000, 'v1 did not start', signal);
    } catch (err) {
      for (const line of starting) say(`  · ${line}`);
      throw err;
    }
    starting = undefined;
    say(`v1 runs; kanari's router listens on http://127.0.0.1:${port}; ${o.users} users start sending requests`);
    say(dashboardLine(url, codes));
    load = startLoad({ host: '127.0.0.1', port }, { users: o.users, concurrency: 8 });
    await sleep(2000, undefined, { signal });
    const deployed = Date.now();
    await controller.deploy(NAME, 'v2', {}, ACTOR);
    const deadline = deployed + (6 * o.holdSeconds + 120) * 1000;
    let view = controller.view(NAME);
    while (!view.result && Date.now() < deadline) {
      await sleep(1000, undefined, { signal });
      view = controller.view(NAME);
      const w = load.take();
      totals.requests += w.requests;
      totals.failures += w.failures;
      const score = view.analyses.find((a) => a.scope === 'background')?.score;
      o.onSecond?.({
        elapsed: Math.round((Date.now() - deployed) / 1000),
        status: view,
        load: w,
        ...(score === undefined ? {} : { score }),
      });
    }
    await load.stop();
    const w = load.take();
    totals.requests += w.requests;
    totals.failures += w.failures;
    load = undefined;
    if (!view.result)
      throw new Error(
        `the rollout did not end within ${Math.round((deadline - deployed) / 1000)} s (phase ${view.phase})`,
      );
    const result = {
      status: { ...view, result: view.result },
      ...evidenceOf(controller, view),
      ...totals,
      seconds: Math.round((view.result.at - deployed) / 1000),
    };
    await o.keep?.(result, () => dashboardLine(url, codes), signal);
    return result;
  } catch (err) {
    throw signal.aborted ? new DemoStopped('the demo was stopped before the rollout ended', { cause: err }) : err;
  } finally {
    await load?.stop();
    server?.close();
    server?.closeAllConnections();
    // Everything: the router process and the versions it started go with the demo.
    await controller.close({ everything: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

function evidenceOf(controller: Controller, view: RolloutView): { evidence?: string } {
  const failed = view.analyses.find((a) => a.verdict === 'Failed' || a.verdict === 'Error');
  const metric = failed ? controller.report(NAME, failed.id).metrics.find((m) => m.verdict === 'Failed') : undefined;
  return metric ? { evidence: `${metric.name}: ${metric.summary}` } : {};
}

async function waitUntil(done: () => boolean, ms: number, what: string, signal: AbortSignal): Promise<void> {
  for (const until = Date.now() + ms; !done(); await sleep(100, undefined, { signal }))
    if (Date.now() > until) throw new Error(`${what} within ${ms / 1000} s`);
}
