import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.js';

describe('kanari demo', () => {
  it('--slow: prints the rollback with its reason and evidence, and exits 0 because that is the expected end', () => {
    const r = runCli(['demo', '--slow', '--hold-seconds', '30']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /✘ v2 rolled back \d+ s after the deploy: analysis sequential is Failed: latency: the canary is worse/,
    );
    assert.match(r.stdout, /evidence: latency: e-value/);
    assert.match(r.stdout, / 0 failed between the users and the app/);
  });

  it('refuses two scenarios at once, exit 2', () => {
    const r = runCli(['demo', '--good', '--bad']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /choose one of --good, --bad, --slow \(got --good and --bad\)/);
  });
});
