import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { loadDocuments, loadFiles } from '../../src/config/kinds.js';
import type { SimulationSpec } from '../../src/config/schemas/simulation.js';
import { simulate } from '../../src/simulate/simulate.js';
import { runCli } from '../helpers/cli.js';

/**
 * The simulator runs the real state machine on the real plan: blueGreen (preview, switch,
 * post-promotion analysis), blueGreen + canary, an analysis step with webhook gates and a
 * pause until promoted, and a baseline. Runs are seeded, so these numbers are the same
 * on every machine; few runs keep the suite quick.
 */
function scenarios(file: string): Map<string, SimulationSpec> {
  const docs = loadDocuments(file) as { kind: string; value: { metadata: { name: string }; spec: SimulationSpec } }[];
  return new Map(docs.map((d) => [d.value.metadata.name.replace(/^.*?-(errors|latency|nothing)/, '$1'), d.value.spec]));
}
const blueGreen = scenarios('examples/simulations/blue-green.yaml');
const blueGreenCanary = scenarios('examples/simulations/blue-green-canary.yaml');
const analysisStep = scenarios('examples/simulations/analysis-step.yaml');

describe('simulating blueGreen', () => {
  it('a good new version is switched to and promoted in every run', async () => {
    const r = await simulate(blueGreen.get('nothing-wrong')!, [], 20);
    assert.equal(r.plan, 'blueGreen');
    assert.deepEqual([r.templates[0]!.promotions, r.templates[0]!.rollbacks], [20, 0]);
    // Five minutes until the person promotes, ten 2-second checks after the switch, scaleDownDelay 10 s.
    assert.ok(r.seconds >= 330 && r.seconds <= 332, `longest run ${r.seconds} s`);
  });

  it('a 5% error rate fails ok-rate after the switch, and everyone goes back', async () => {
    const spec = {
      ...blueGreen.get('errors-10x')!,
      canary: { ...blueGreen.get('errors-10x')!.canary!, errorRate: 0.05 },
    };
    const r = await simulate(spec, [], 10);
    const t = r.templates[0]!;
    assert.equal(t.rollbacks, 10);
    assert.match(t.example ?? '', /ok-rate is Failed/);
    // The switch comes after the 5-minute wait for a person; ok-rate fails within its first checks.
    assert.ok(t.timeToRollback!.median >= 300 && t.timeToRollback!.median <= 320, `${t.timeToRollback!.median} s`);
  });

  it('shows what the plan misses: ok-rate cannot see 1% errors, so every bad version is promoted', async () => {
    const r = await simulate(blueGreen.get('errors-10x')!, [], 10);
    assert.equal(r.templates[0]!.rollbacks, 0);
    assert.equal(r.templates[0]!.promotions, 10);
    assert.ok(r.templates[0]!.extraErrors > 200, `harm ${r.templates[0]!.extraErrors}`);
  });

  it('without a person to promote, the run ends waiting at the switch', async () => {
    const { promote: _, ...spec } = blueGreen.get('nothing-wrong')!;
    const r = await simulate(spec, [], 3);
    assert.deepEqual([r.templates[0]!.promotions, r.templates[0]!.rollbacks, r.templates[0]!.pauses], [0, 0, 0]);
  });
});

describe('simulating blueGreen + canary', () => {
  it('the sequential judge on the 5% canary step rolls a bad version back before the switch', async () => {
    const r = await simulate(blueGreenCanary.get('errors-10x')!, [], 20);
    const t = r.templates[0]!;
    assert.equal(r.plan, 'blueGreen+canary');
    assert.equal(t.rollbacks, 20);
    assert.ok(t.timeToRollback!.median <= 15, `median ${t.timeToRollback!.median} s`);
    assert.ok(t.extraErrors < 20, `harm ${t.extraErrors}`);
  });

  it('a good version is promoted after the canary step and ok-rate', async () => {
    const r = await simulate(blueGreenCanary.get('nothing-wrong')!, [], 20);
    assert.ok(r.templates[0]!.promotions >= 19, `promoted ${r.templates[0]!.promotions}/20`);
    assert.ok(r.templates[0]!.rollbacks <= 1);
  });
});

describe('simulating a plan with an analysis step and webhook gates', () => {
  it('a good canary passes the gates, the analysis step and the pause, and is promoted', async () => {
    const r = await simulate(analysisStep.get('nothing-wrong')!, [], 10);
    assert.ok(r.templates[0]!.promotions >= 9, `promoted ${r.templates[0]!.promotions}/10`);
    // One minute for the change window, 2 + 5 minutes of pauses, the analysis step, 2 minutes until promoted.
    assert.ok(r.seconds >= 600 && r.seconds <= 760, `longest run ${r.seconds} s`);
  });

  it('a bad canary is rolled back, timed from when users first met it (after the change window)', async () => {
    const r = await simulate(analysisStep.get('errors-10x')!, [], 10);
    assert.equal(r.templates[0]!.rollbacks, 10);
    assert.ok(r.templates[0]!.timeToRollback!.median < 60, `median ${r.templates[0]!.timeToRollback!.median} s`);
  });

  it('a failing pre-rollout check rolls back before any user meets the canary', async () => {
    const spec = { ...analysisStep.get('nothing-wrong')!, webhooks: { 'pre-rollout': { answer: 'fail', after: 0 } } };
    const r = await simulate(spec as SimulationSpec, [], 2);
    assert.equal(r.templates[0]!.rollbacks, 2);
    assert.match(r.templates[0]!.example ?? '', /the pre-rollout check failed/);
    assert.equal(r.templates[0]!.extraErrors, 0);
  });
});

describe('simulating gates nobody passes', () => {
  it('a change window that never says yes leaves the rollout waiting, neither promoted nor rolled back', async () => {
    const spec = {
      ...analysisStep.get('nothing-wrong')!,
      webhooks: { 'confirm-rollout': { answer: 'fail', after: 0 } },
    };
    const r = await simulate(spec as SimulationSpec, [], 2);
    assert.deepEqual([r.templates[0]!.promotions, r.templates[0]!.rollbacks, r.templates[0]!.extraErrors], [0, 0, 0]);
    assert.equal(r.seconds, 0, 'the run ends as soon as it waits on a gate the scenario never passes');
  });
});

describe('simulating a baseline', () => {
  it('a plan with a baseline, a mirror and a capped sequential step runs to its end: good promoted, bad rolled back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-sim-'));
    const file = join(dir, 'sim.yaml');
    const ref = resolve('test/fixtures/rollout-baseline.yaml');
    const body = (canary: string) =>
      `apiVersion: kanari.dev/v1alpha1\nkind: Simulation\nmetadata: { name: b }\nspec:\n  rollout: { file: ${ref} }\n  canary: ${canary}\n`;
    writeFileSync(file, body('{ errorRate: 0.001 }'));
    const good = await simulate(scenarios(file).get('b')!, [], 5);
    assert.equal(good.templates[0]!.promotions, 5);
    writeFileSync(file, body('{ errorRate: 0.02 }'));
    const bad = await simulate(scenarios(file).get('b')!, [], 5);
    assert.equal(bad.templates[0]!.rollbacks, 5);
    assert.match(bad.templates[0]!.example ?? '', /sequential-capped is Failed/);
  });
});

describe('kanari simulate of a Rollout', () => {
  it('prints the four scenarios of the blue-green example, each with its row', async () => {
    const r = await runCli(['simulate', '-f', 'examples/simulations/blue-green-canary.yaml', '--runs', '5']);
    assert.equal(r.status, 0, r.stderr);
    for (const name of ['errors-10x', 'errors-2x', 'latency-20pct', 'nothing-wrong'])
      assert.match(r.stdout, new RegExp(`blue-green-canary-${name}: 5 runs of shop's blueGreen\\+canary plan`));
    assert.match(r.stdout, /^ {2}rollout +caught +missed +paused +median +p90 +extra errors$/m);
    assert.match(r.stdout, /^ {2}shop +100\.0% +0\.0% +0\.0% /m);
    assert.match(r.stdout, /^ {2}shop +0\.0% \(0\) +0\.0% +100\.0%$/m);
  });

  it('refuses at its line a sequential template that counts from Prometheus, as kanari lint does', () => {
    const [sim] = loadFiles([
      'test/fixtures/simulation-sequential-prometheus.yaml',
      'examples/analysis/sequential-prometheus.yaml',
    ]);
    assert.ok(sim && 'error' in sim, 'the Simulation is refused');
    assert.match(
      String(sim.error),
      /simulation-sequential-prometheus\.yaml:8:\d+ spec\.templates\[0\]: template "sequential-istio" reads prometheus/,
    );
  });

  it('refuses, at their lines, a rollout beside steps, templates beside a rollout, and a rollout file that is not there', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-sim-'));
    const file = join(dir, 'sim.yaml');
    const head = 'apiVersion: kanari.dev/v1alpha1\nkind: Simulation\nmetadata: { name: s }\nspec:\n';
    writeFileSync(file, `${head}  rollout: { file: nowhere.yaml }\n`);
    assert.throws(() => loadDocuments(file), /sim\.yaml:5:\d+ spec\.rollout\.file: cannot read .*nowhere\.yaml/);
    writeFileSync(file, `${head}  rollout: { file: x.yaml }\n  steps: [{ setWeight: 5 }]\n`);
    assert.throws(() => loadDocuments(file), /set exactly one of steps, rollout \(got steps and rollout\)/);
    writeFileSync(file, `${head}  rollout: { file: x.yaml }\n  templates: [sequential]\n`);
    assert.throws(() => loadDocuments(file), /spec\.templates: a rollout is judged by its own analyses/);
  });
});
