/**
 * `kanari down --all` on a real controller stops the versions an analysis judges, so it
 * ends that analysis as Stopped (not Successful, not left Running), in the status the next
 * `kanari up` starts from, in its report and in the history. (What the next controller does
 * with it, and a plain `kanari down` that only suspends runs: test/rollout/stopped.test.ts.)
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Store } from '../../src/store/sqlite.js';
import { appRollout, listenPort, successRateEverySecond, UpFixture } from '../helpers/controller.js';

/** Watches the canary's success rate every second and never ends by itself (no traffic is sent). */
const WATCH = successRateEverySecond('watch', [
  'failureCondition: result < 0.5',
  'inconclusiveLimit: 100000',
  // A slow machine may miss the router's statistics for a while: that must not end the run either.
  'consecutiveErrorLimit: 100000',
]);

describe('kanari down --all', () => {
  it('ends a running analysis as Stopped, with the reason', async () => {
    const f = new UpFixture();
    try {
      const port = await listenPort();
      const strategy = `  strategy:
    canary:
      steps:
        - setWeight: 20
        - analysis: { templates: [watch] }
`;
      const file = f.write('shop.yaml', appRollout('shop', port, strategy) + WATCH);
      await f.up();
      assert.equal((await f.cli('apply', '-f', file)).status, 0);
      await f.serving('shop');
      assert.equal((await f.cli('deploy', 'shop', '--version', 'v2')).status, 0);
      const running = await f.until('shop', (v) => v.analyses.some((a) => a.verdict === 'Running'));
      const id = running.analyses.find((a) => a.verdict === 'Running')!.id;

      const down = await f.cli('down', '--all');
      // What a failure here needs to be understood where only its message is kept (CI).
      const seen = (what: string) =>
        `${what}\nthe analysis when down began: ${JSON.stringify(running.analyses)}\nkanari down: ${down.stdout}${down.stderr}\nkanari up:\n${f.log()}`;
      assert.equal(down.status, 0, seen('kanari down --all failed'));
      // Read from the store the controller left: what the next `kanari up` starts from.
      const store = new Store(join(f.state, 'kanari.db'));
      try {
        const status = store.rollout('shop')!.status;
        // The whole saved event log too: which transitions reached the store, in order.
        const log = store.events('shop', {}).map((e) => `${e.id} ${e.type} ${JSON.stringify(e.data).slice(0, 200)}`);
        const saved = seen(`saved: ${JSON.stringify(status)}\nsaved events:\n${log.join('\n')}`);
        const entry = status.analyses.find((a) => a.id === id);
        assert.ok(entry, `the analysis ${id} is in the saved status; ${saved}`);
        assert.equal(entry.verdict, 'Stopped', saved);
        assert.match(entry.reason ?? '', /^stopped: kanari down --all/, saved);
        const report = store.runReport('shop', id)!;
        assert.equal(report.verdict, 'Stopped', `counted apart in kanari_analysis_runs_total; ${saved}`);
        assert.notEqual(report.endedAt, undefined, saved);
        const row = store.events('shop', { types: ['analysisStopped'] }).find((e) => e.data.id === id);
        assert.match(String(row?.data.reason), /^stopped: kanari down --all/, `in the history; ${saved}`);
      } finally {
        store.close();
      }
    } finally {
      await f.close();
    }
  });
});
