/**
 * blueGreen and rolling as a user runs them: `kanari up`, the CLI, the versions as real
 * processes, users with cookies sending requests throughout, and a real webhook that
 * holds the switch until it says yes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLoad } from '../../src/demo/load.js';
import {
  alive,
  appCommand,
  appRollout,
  HOOK_KEY,
  HOOK_KEY_ENV,
  listenPort,
  successRateTemplate,
  UpFixture,
} from '../helpers/controller.js';
import { webhookReceiver } from '../helpers/http.js';

/** The app processes of `version` running in `dir` (each rollout file's processes run in its directory). */
function appProcesses(dir: string, version: string): number {
  let n = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readlinkSync(`/proc/${pid}/cwd`) !== dir) continue;
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => /app\.[jt]s$/.test(a)) && argv[argv.indexOf('--name') + 1] === version) n++;
    } catch {
      /* gone meanwhile */
    }
  }
  return n;
}

describe('kanari up: blueGreen and rolling', () => {
  it('blueGreen: preview by header, the switch held by a confirm-promotion webhook, a bad release switched back by the post-promotion analysis', async () => {
    const f = new UpFixture();
    const port = await listenPort();
    const answers = Array.from({ length: 10_000 }, () => 403);
    const cab = await webhookReceiver(answers);
    let load: ReturnType<typeof startLoad> | undefined;
    try {
      const file = f.write(
        'shop.yaml',
        appRollout(
          'shop',
          port,
          `  strategy:
    blueGreen:
      previewRoute: { header: x-preview, value: "1" }
      postPromotionAnalysis: { templates: [ok-rate] }
      scaleDownDelay: 3s
  webhooks:
    - name: cab
      type: confirm-promotion
      url: ${cab.url}
      secretEnv: ${HOOK_KEY_ENV}
      metadata: { ticket: CHG-1 }
${successRateTemplate('ok-rate', 4, 0.95)}`,
        ),
      );
      await f.up();
      assert.equal((await f.cli('apply', '-f', file)).status, 0);
      await f.serving('shop');
      load = startLoad({ host: '127.0.0.1', port }, { users: 300, concurrency: 4 });
      assert.equal((await f.cli('deploy', 'shop', '--version', 'v2')).status, 0);

      // Held at the switch: testers reach v2 with the header, users all get v1.
      const held = await f.until('shop', (v) =>
        /waiting for the confirm-promotion webhook: cab answered 403/.test(v.message),
      );
      assert.equal(held.weights.canary, 0);
      assert.equal(held.gate?.type, 'confirm-promotion');
      const preview = await fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-preview': '1' } });
      assert.equal(preview.headers.get('x-app-version'), 'v2');
      load.take();
      await sleep(1500);
      assert.deepEqual([...load.take().byVersion.keys()], ['v1'], 'no user reaches v2 before the switch');
      const asked = cab.got.at(-1)!;
      assert.equal(
        asked.headers['x-kanari-signature'],
        `sha256=${createHmac('sha256', HOOK_KEY).update(asked.body).digest('hex')}`,
      );
      assert.deepEqual(
        { ...JSON.parse(asked.body), at: undefined, phase: undefined, step: undefined },
        {
          rollout: 'shop',
          gate: 'confirm-promotion',
          webhook: 'cab',
          revision: 1,
          stable: 'v1',
          canary: 'v2',
          weights: { canary: 0, baseline: 0 },
          metadata: { ticket: 'CHG-1' },
          at: undefined,
          phase: undefined,
          step: undefined,
        },
      );

      // Yes: everyone switches at once, v1 keeps running through the post-promotion analysis and scaleDownDelay.
      answers.length = 0;
      await f.until('shop', (v) => v.weights.canary === 100);
      const v1pid = f.record('shop', 'instance:v1')!.pids[0]!;
      assert.ok(alive(v1pid), 'v1 still runs after the switch, while v2 is judged');
      const promoted = await f.until('shop', (v) => v.result?.outcome === 'Promoted', 60_000);
      assert.equal(promoted.stable, 'v2');
      assert.equal(promoted.analyses.find((a) => a.template === 'ok-rate')?.verdict, 'Successful');
      assert.ok(!alive(v1pid), 'v1 stopped after scaleDownDelay');
      load.take();
      await sleep(1000);
      assert.deepEqual([...load.take().byVersion.keys()], ['v2']);

      // A bad v3: switched to, judged, and switched straight back to v2, which never stopped.
      const v2pid = f.record('shop', 'instance:v2')!.pids[0]!;
      assert.equal(
        (
          await f.cli(
            'deploy',
            'shop',
            '--version',
            'v3',
            '--set',
            `canary.process.command=${appCommand('--error-rate 0.3')}`,
          )
        ).status,
        0,
      );
      const back = await f.until('shop', (v) => v.result?.outcome === 'RolledBack', 60_000);
      assert.match(back.result!.reason, /analysis ok-rate is Failed/);
      assert.equal(back.stable, 'v2');
      assert.ok(alive(v2pid), 'v2 kept running through the switch and back');
      assert.equal((await f.table('shop')).table.weights.canary, 0);
      const history = (await f.cli('history', 'shop', '--json')).stdout;
      assert.match(history, /switch every user to the new version/);
      await load.stop();
      const counts = load.take();
      load = undefined;
      assert.equal(
        counts.failures,
        0,
        "no request failed between the users and the apps (v3's own 500s are the app's)",
      );
      assert.ok(counts.appErrors > 0, 'v3 did serve users, badly, after the switch');
    } finally {
      await load?.stop();
      await f.close();
      await cab.close();
    }
  });

  it('rolling: replaces a pool of 3 a wave at a time within maxSurge, traffic following the instances, through a kill -9 of the controller; a lost process is replaced beside its adopted siblings; an abort part-way brings the old pool back whole', async () => {
    const f = new UpFixture();
    const port = await listenPort();
    let load: ReturnType<typeof startLoad> | undefined;
    try {
      const file = f.write(
        'api.yaml',
        appRollout(
          'api',
          port,
          `  strategy:
    rolling: { maxSurge: 1, maxUnavailable: 0, minReady: 2s }
`,
          3,
        ),
      );
      await f.up();
      assert.equal((await f.cli('apply', '-f', file)).status, 0);
      await f.serving('api');
      assert.equal(appProcesses(f.dir, 'v1'), 3);
      load = startLoad({ host: '127.0.0.1', port }, { users: 300, concurrency: 4 });
      assert.equal((await f.cli('deploy', 'api', '--version', 'v2')).status, 0);
      const weights = new Set<number>();
      let most = 0;
      let killed = false;
      for (const deadline = Date.now() + 90_000; Date.now() < deadline;) {
        most = Math.max(most, appProcesses(f.dir, 'v1') + appProcesses(f.dir, 'v2'));
        const v = await f.view('api').catch(() => undefined);
        if (!v) {
          await sleep(100);
          continue;
        }
        weights.add(v.weights.canary);
        if (v.result) break;
        // kill -9 while the second wave's new instance is starting (or, if that was missed, a
        // moment later): the next controller must adopt it, not leak it or start another.
        if (!killed && ((v.step === 2 && appProcesses(f.dir, 'v2') === 2 && v.weights.canary < 66) || v.step > 2)) {
          killed = true;
          await f.kill9();
          await sleep(500);
          await f.up();
        }
        await sleep(50);
      }
      assert.ok(killed, 'the controller was killed mid-rollout');
      const done = await f.view('api');
      assert.equal(done.result?.outcome, 'Promoted', JSON.stringify(done));
      assert.deepEqual(
        [...weights].filter((w) => w > 0 && w < 100).sort(),
        [33.33, 66.67],
        'traffic followed the instances, a third at a time',
      );
      assert.ok(most <= 4, `never more than 3 + maxSurge processes (saw ${most})`);
      assert.deepEqual([appProcesses(f.dir, 'v1'), appProcesses(f.dir, 'v2')], [0, 3]);

      // One process of the stable pool dies: its two siblings keep serving and are adopted, one new one is started.
      const pool = f.record('api', 'instance:v2')!.pids;
      process.kill(-pool[0]!, 'SIGKILL');
      const healed = await f.until('api', () => {
        const now = f.record('api', 'instance:v2')?.pids ?? [];
        return now.length === 3 && !now.includes(pool[0]!) && appProcesses(f.dir, 'v2') === 3;
      });
      assert.equal(healed.phase, 'StableOnly');
      assert.deepEqual(
        f.record('api', 'instance:v2')!.pids.slice(0, 2),
        [pool[1], pool[2]],
        'the survivors were adopted, not restarted',
      );

      // v3, aborted after its second wave: v2's pool is back to 3 before v3 goes.
      assert.equal((await f.cli('deploy', 'api', '--version', 'v3')).status, 0);
      await f.until('api', (v) => v.weights.canary === 66.67 && appProcesses(f.dir, 'v2') === 1);
      assert.equal((await f.cli('abort', 'api', '--reason', 'wrong build')).status, 0);
      const aborted = await f.until('api', (v) => v.phase === 'Aborted');
      assert.equal(aborted.stable, 'v2');
      assert.deepEqual([appProcesses(f.dir, 'v2'), appProcesses(f.dir, 'v3')], [3, 0]);
      await sleep(1000);
      load.take();
      await sleep(1000);
      assert.deepEqual([...load.take().byVersion.keys()], ['v2']);
      await load.stop();
      const counts = load.take();
      load = undefined;
      assert.equal(counts.failures, 0, 'no request failed across every wave, the abort and the restore');
    } finally {
      await load?.stop();
      await f.close();
    }
  });
});
