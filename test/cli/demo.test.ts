/**
 * `kanari demo` as a person runs it: the rollout's lines, the sign-in link it prints (good
 * once), the finished rollout kept on the dashboard with --keep, and Ctrl-C leaving no
 * process and no state behind.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliAsync, startCli } from '../helpers/cli.js';

// The demo keeps its state under TMPDIR: every process it started names this folder in its arguments or environment.
const scratch = mkdtempSync(join(tmpdir(), 'kanari-demo-test-'));
const env = { ...process.env, TMPDIR: scratch };
const children: ChildProcess[] = [];
after(async () => {
  for (const child of children.filter((c) => c.exitCode === null && c.signalCode === null)) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
  rmSync(scratch, { recursive: true, force: true });
});

/** Processes other than the tests' own that mention the scratch folder. */
function leftBehind(): string[] {
  const mine = new Set(children.map((c) => c.pid));
  return readdirSync('/proc')
    .filter((pid) => /^\d+$/.test(pid) && !mine.has(Number(pid)) && Number(pid) !== process.pid)
    .filter((pid) => {
      try {
        const text = readFileSync(`/proc/${pid}/cmdline`, 'utf8') + readFileSync(`/proc/${pid}/environ`, 'utf8');
        return text.includes(scratch);
      } catch {
        return false; // gone meanwhile, or not ours to read
      }
    })
    .map((pid) => `${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')}`);
}

/** The demo's state folders in the scratch folder (tsx keeps its cache there too). */
const demoStates = () => readdirSync(scratch).filter((f) => f.startsWith('kanari-demo-'));

async function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

const SIGN_IN = /dashboard: (http:\/\/127\.0\.0\.1:\d+)\/ {2}sign in \(once, within 60 s\): (\S+\/sign-in\?code=\S+)/;

describe('kanari demo', () => {
  it('--slow --keep: prints a sign-in link good once, the rollback with its evidence, keeps the dashboard until stopped (through the API here), then leaves nothing behind', async () => {
    const started = await startCli(['demo', '--slow', '--hold-seconds', '30', '--keep'], SIGN_IN, { env });
    children.push(started.child);
    const [, dashboard, link] = SIGN_IN.exec(started.output())!;
    assert.match(started.output(), /v1 runs; kanari's router listens on http:\/\/127\.0\.0\.1:\d+; 2000 users/);

    const first = await fetch(link!, { redirect: 'manual' });
    assert.equal(first.status, 303);
    assert.equal(first.headers.get('location'), '/');
    const cookie = first.headers.getSetCookie()[0]?.split(';')[0];
    assert.match(cookie ?? '', /^kanari_session=./);
    const second = await fetch(link!, { redirect: 'manual' });
    assert.match(second.headers.get('location') ?? '', /^\/\?sign-in-error=/, 'the code works once');
    assert.deepEqual(second.headers.getSetCookie(), []);

    // --keep: the finished rollout stays on the dashboard (a session from the link reads it).
    await waitFor(() => /until Ctrl-C/.test(started.output()), 90_000, started.output);
    const out = started.output();
    assert.match(
      out,
      /✘ v2 rolled back \d+ s after the deploy: analysis sequential is Failed: latency: the canary is worse/,
    );
    assert.match(out, /evidence: latency: e-value/);
    assert.match(out, / 0 failed between the users and the app/);
    assert.match(out, /until Ctrl-C[^\n]*\n(dashboard: .*sign-in\?code=\S+)/, 'a new link, the first may have expired');
    const view = (await (
      await fetch(`${dashboard}/api/v1/rollouts/demo`, { headers: { cookie: cookie! } })
    ).json()) as {
      result?: { outcome: string };
    };
    assert.equal(view.result?.outcome, 'RolledBack');

    // The API's shutdown ends it as Ctrl-C does (an admin's session, as the dashboard would send it).
    const { csrf } = (await (await fetch(`${dashboard}/auth/session`, { headers: { cookie: cookie! } })).json()) as {
      csrf: string;
    };
    const shutdown = await fetch(`${dashboard}/api/v1/shutdown`, {
      method: 'POST',
      headers: { cookie: cookie!, 'x-csrf-token': csrf, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(shutdown.status, 202);
    assert.equal(await exitOf(started.child), 0, started.output());
    assert.match(started.output(), /stopped through the API by local/);
    assert.match(started.output(), /stopped: the router and every version it ran are stopped/);
    assert.deepEqual(leftBehind(), []);
    assert.deepEqual(demoStates(), [], 'the demo state is removed');
  });

  it('Ctrl-C before the rollout ends stops everything it started and exits 130', async () => {
    const started = await startCli(['demo', '--bad', '--keep'], SIGN_IN, { env });
    children.push(started.child);
    started.child.kill('SIGINT');
    assert.equal(await exitOf(started.child), 130, started.output());
    assert.match(started.output(), /stopped: the router and every version it ran are stopped/);
    assert.deepEqual(leftBehind(), []);
    assert.deepEqual(demoStates(), []);
  });

  it('refuses two scenarios at once, and --keep with --no-keep, exit 2', async () => {
    const [r, k] = await Promise.all([
      runCliAsync(['demo', '--good', '--bad']),
      runCliAsync(['demo', '--keep', '--no-keep']),
    ]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /choose one of --good, --bad, --slow \(got --good and --bad\)/);
    assert.equal(k.status, 2);
    assert.match(k.stderr, /choose one of --keep and --no-keep/);
  });
});

async function waitFor(done: () => boolean, ms: number, say: () => string): Promise<void> {
  for (const until = Date.now() + ms; !done(); await new Promise((r) => setTimeout(r, 200)))
    if (Date.now() > until) assert.fail(`not within ${ms / 1000} s:\n${say()}`);
}
