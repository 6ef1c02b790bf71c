import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { target } from '../../src/config/schemas/rollout.js';
import { type ControllerError, withOverrides } from '../../src/server/controller.js';
import { renderRollout } from '../../src/cli/render.js';
import type { RolloutView } from '../../src/server/view.js';

const canary = target.parse({ process: { command: 'node app.js', env: { A: '1' }, stopTimeout: '5s' } });

describe('deploy --set', () => {
  it('lays YAML values over the canary and validates the result like the file', () => {
    const t = withOverrides(canary, {
      'canary.process.command': 'node app.js --v2',
      'canary.process.instances': '3',
      'canary.process.env.B': 'two',
    });
    assert.equal(t.process!.command, 'node app.js --v2');
    assert.equal(t.process!.instances, 3, 'a number stays a number');
    assert.deepEqual(t.process!.env, { A: '1', B: 'two' });
    assert.equal(t.process!.stopTimeout, 5000, 'untouched durations survive the round trip');
    assert.equal(withOverrides(canary, {}), canary);
  });

  it('refuses keys outside canary and values the schema refuses, naming the path', () => {
    assert.throws(
      () => withOverrides(canary, { 'stable.process.command': 'x' }),
      (e: ControllerError) => e.status === 400 && /only keys under canary/.test(e.message),
    );
    assert.throws(
      () => withOverrides(canary, { 'canary.process.instances': 'many' }),
      (e: ControllerError) => e.status === 400 && /^--set: canary\.process\.instances: /.test(e.message),
    );
    assert.throws(
      () => withOverrides(canary, { 'canary.upstreams': '[http://127.0.0.1:1]' }),
      (e: ControllerError) => /exactly one|only one|one of/i.test(e.message),
    );
  });
});

describe('deploy --set under hostile input', () => {
  it("refuses a key that walks into an object's prototype, and pollutes nothing", () => {
    for (const key of [
      'canary.__proto__.polluted',
      'canary.process.__proto__.polluted',
      'canary.constructor.prototype.polluted',
    ]) {
      assert.throws(
        () => withOverrides(canary, { [key]: 'yes' }),
        (e: ControllerError) => e.status === 400,
        key,
      );
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was written to');
  });

  it('answers a deeply nested value, again and again, without aborting the process', () => {
    // In a child process: before the fix the second parse aborts Node, which no test could catch.
    const controller = fileURLToPath(new URL('../../src/server/controller.ts', import.meta.url));
    const script = `const { withOverrides } = await import(${JSON.stringify(controller)});
const canary = { process: { command: 'x', startTimeout: 1000, stopTimeout: 1000 } };
for (let i = 0; i < 3; i++) { try { withOverrides(canary, { 'canary.process.command': '['.repeat(100000) }); } catch (e) { if (e.status !== 400) throw e; } }
console.log('alive');`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr.slice(-500));
    assert.match(r.stdout, /alive/);
  });
});

describe('kanari status view', () => {
  it('draws the weight, the plan with the current step and its time left, the verdicts and the last result', () => {
    const v: RolloutView = {
      name: 'shop',
      phase: 'Monitor',
      revision: 2,
      stable: 'v1',
      canary: 'v2',
      weights: { stable: 75, canary: 25, baseline: 0 },
      listen: '127.0.0.1:8080',
      step: 1,
      steps: [
        { index: 0, text: 'send 25% of users to the canary', state: 'done' },
        { index: 1, text: 'wait 5m', state: 'current' },
        { index: 2, text: 'pause until promoted', state: 'next' },
      ],
      pauseLeft: 185_000,
      analyses: [
        {
          id: 'a',
          template: 'sequential',
          scope: 'background',
          step: 0,
          verdict: 'Running',
          score: 97.4,
          startedAt: 0,
        },
      ],
      message: 'step 2/3: wait 5m',
      result: { outcome: 'RolledBack', version: 'v2', reason: 'errors', at: 1_000_000 - 7_200_000 },
      updatedAt: 0,
    };
    const text = renderRollout(v, 1_000_000);
    assert.match(text, /^shop {2}Monitor {2}v1 → v2 {2}\(revision 2, users on 127\.0\.0\.1:8080\)$/m);
    assert.match(text, /█████░{15} 25% v2 {2}· 75% v1/);
    assert.match(text, /✓ {2}1\. send 25%/);
    assert.match(text, /▶ {2}2\. wait 5m {3}\(3m05s left\)/);
    assert.match(text, /sequential \(background\) {2}Running {2}score 97/);
    assert.match(text, /last {6}RolledBack v2 2h00m ago: errors/);
  });
});
