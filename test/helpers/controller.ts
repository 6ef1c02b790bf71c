/**
 * A real `kanari up` in a child process on a temporary state directory, with what a
 * fault test needs around it: the CLI, the API, the pids the controller saved, and a
 * clean-up that leaves no process behind even when the test fails.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AdminClient } from '../../src/router/client.js';
import { ApiClient } from '../../src/server/client.js';
import type { RolloutView } from '../../src/server/view.js';
import { Store } from '../../src/store/sqlite.js';
import { signal, type ProcessRecord } from '../../src/targets/process.js';
export { alive } from '../../src/targets/process.js';
import { runCliAsync, startCli } from './cli.js';
import { LOADER, ownModule } from './own-module.js';

const APP = ownModule('demo/app.ts');

/**
 * The demo app as a process target's command; it answers with the version it was started
 * as, in about 5 ms. (At 0 ms a freshly started canary's cold JIT alone makes it measurably
 * slower than a warm stable, and the sequential judge rightly says so.)
 */
export function appCommand(extra = ''): string {
  return `exec ${[process.execPath, ...LOADER, APP].join(' ')} --name $KANARI_VERSION --latency-ms 5 ${extra}`.trim();
}

/**
 * A Rollout of the demo app as v1 and as each new version, listening on 127.0.0.1:`port`
 * with users kept by a cookie; `rest` is the rest of `spec` (the strategy, webhooks…),
 * and may go on with further documents.
 */
export function appRollout(name: string, port: number, rest: string, instances?: number): string {
  const target = `process: { command: "${appCommand()}"${instances === undefined ? '' : `, instances: ${instances}`} }`;
  return `apiVersion: kanari.dev/v1alpha1
kind: Rollout
metadata: { name: ${name} }
spec:
  listen: 127.0.0.1:${port}
  stable: { version: v1, ${target} }
  canary: { ${target} }
  sticky: { cookie: ${name}-user }
${rest}`;
}

/** A Rollout of the demo app whose canary gets `weight`% of users and then waits for a person (`pause: {}`). */
export function holdingRollout(name: string, port: number, weight: number): string {
  return appRollout(
    name,
    port,
    `  strategy:
    canary:
      steps:
        - setWeight: ${weight}
        - pause: {}`,
  );
}

/** An AnalysisTemplate document: `count` one-second looks at the canary's success rate from the router's statistics. */
export function successRateTemplate(name: string, count: number, atLeast: number): string {
  return successRateEverySecond(name, [`count: ${count}`, `successCondition: result >= ${atLeast}`]);
}

/** An AnalysisTemplate document: the canary's success rate each second, with the metric's other `fields` (YAML lines). */
export function successRateEverySecond(name: string, fields: string[]): string {
  return `---
apiVersion: kanari.dev/v1alpha1
kind: AnalysisTemplate
metadata: { name: ${name} }
spec:
  threshold:
    metrics:
      - name: success
        provider: { builtin: { signal: successRate } }
        interval: 1s
${fields.map((f) => `        ${f}\n`).join('')}`;
}

/** The controller's environment holds a webhook signing key under this name. */
export const HOOK_KEY_ENV = 'KANARI_TEST_HOOK_KEY';
export const HOOK_KEY = 'test-hook-key-0123456789';

export class UpFixture {
  readonly dir = mkdtempSync(join(tmpdir(), 'kanari-up-'));
  private child?: ChildProcess;
  private output = () => '';

  get state(): string {
    return join(this.dir, 'state');
  }

  write(name: string, text: string): string {
    const file = join(this.dir, name);
    writeFileSync(file, text);
    return file;
  }

  async up(): Promise<void> {
    const started = await startCli(
      ['up', '--state', this.state, '--listen', '127.0.0.1:0'],
      /kanari controller on http/,
      { env: { ...process.env, [HOOK_KEY_ENV]: HOOK_KEY } },
    );
    this.child = started.child;
    this.output = started.output;
  }

  /** What `kanari up` has printed so far (for failure messages). */
  log(): string {
    return this.output();
  }

  async kill9(): Promise<void> {
    const child = this.child!;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  cli(...args: string[]) {
    return runCliAsync([...args, '--state', this.state]);
  }

  get api(): ApiClient {
    return ApiClient.forState(this.state);
  }

  view(name: string): Promise<RolloutView> {
    return this.api.get<RolloutView>(`/api/v1/rollouts/${name}`);
  }

  /** Applies `file`, waits for the rollout's router, deploys `version`, and waits until `weight`% of users are on it, paused. */
  async deployPaused(name: string, file: string, version: string, weight: number): Promise<void> {
    const applied = await this.cli('apply', '-f', file);
    if (applied.status !== 0) throw new Error(`kanari apply: ${applied.stderr}`);
    await this.serving(name);
    const deployed = await this.cli('deploy', name, '--version', version);
    if (deployed.status !== 0) throw new Error(`kanari deploy: ${deployed.stderr}`);
    await this.until(name, (v) => v.phase === 'Paused' && v.weights.canary === weight);
  }

  /**
   * Waits until the rollout's users are served: its service is listening on the router. The
   * router's pid record alone is not that: it is saved when the router process starts, before
   * the rollout's listener opens, and users sent in between are refused.
   */
  serving(name: string): Promise<RolloutView> {
    return this.until(
      name,
      (v) => v.phase === 'StableOnly' && v.router?.serving === true && this.record(name, 'router') !== undefined,
    );
  }

  /** Polls the rollout until `ok` holds, failing with the last view after `ms`. */
  async until(name: string, ok: (v: RolloutView) => boolean, ms = 30_000): Promise<RolloutView> {
    const deadline = Date.now() + ms;
    let last: RolloutView | undefined;
    for (;;) {
      try {
        last = await this.view(name);
        if (ok(last)) return last;
      } catch {
        /* the controller may still be starting */
      }
      if (Date.now() > deadline)
        throw new Error(
          `rollout ${name} did not get there within ${ms / 1000} s; last: ${JSON.stringify(last)}\n${this.log()}`,
        );
      await sleep(200);
    }
  }

  /** A record the controller saved (instance and router pids), read from its SQLite file. */
  record(rollout: string, key: string): ProcessRecord | undefined {
    const store = new Store(join(this.state, 'kanari.db'));
    try {
      return store.record<ProcessRecord>(rollout, key);
    } finally {
      store.close();
    }
  }

  /** The rollout's table, from its service on the shared router's admin endpoint. */
  async table(rollout: string): Promise<{ revision: number; table: { weights: { canary: number } } }> {
    const token = readFileSync(join(this.state, 'router', 'admin-token'), 'utf8').trim();
    const admin = new AdminClient(`unix:${join(this.state, 'run', 'router.sock')}`, token);
    try {
      return await admin.forService(rollout).table();
    } finally {
      admin.close();
    }
  }

  /** Stops everything: `kanari down --all`, then SIGKILL for whatever a failed test left behind. */
  async close(): Promise<void> {
    const records: ProcessRecord[] = [];
    try {
      const store = new Store(join(this.state, 'kanari.db'));
      for (const r of store.rollouts())
        for (const key of [
          'router',
          ...r.status.instances.map((i) => `instance:${i.id}`),
          ...r.status.stopping.map((id) => `instance:${id}`),
        ])
          records.push(store.record<ProcessRecord>(r.name, key) ?? { pids: [], ports: [] });
      // The router every rollout shares is kept under no rollout.
      records.push(store.record<ProcessRecord>('', 'router') ?? { pids: [], ports: [] });
      store.close();
    } catch {
      /* no store yet */
    }
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      const exited = once(this.child, 'exit');
      await this.cli('down', '--all');
      await exited;
    }
    // By pid and start time: a pid recorded minutes ago may be another test's process now.
    for (const r of records) r.pids.forEach((pid, i) => signal(pid, 'SIGKILL', r.starts?.[i]));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The ports listenPort has given in this process: each is free until its test binds it, which may be seconds later. */
const given = new Set<number>();

/**
 * A free port below Linux's ephemeral range (32768+) for a rollout's `listen`: one picked
 * from that range can be taken by an outgoing connection before the router binds it.
 * Never one it gave before in this process: tests that run side by side each take one
 * before any binds, and two drawn alike would both be "free" and one test would fail to
 * listen — 1 in 12,000 a pair; ports.test.ts's concurrent tests take four (six pairs), about
 * 8 pairs in the suite, so about one run in 1,500.
 */
export async function listenPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (given.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer().once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free && !given.has(port)) {
      given.add(port);
      return port;
    }
  }
}
