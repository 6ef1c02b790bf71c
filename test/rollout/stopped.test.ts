/**
 * Stopped is not passed: an analysis the rollout ends before it reached a verdict of its
 * own (an abort, a crashed instance, `promote --full`, the blue-green switch, promotion,
 * `kanari down --all`) ends Stopped, with the reason, in the status and in its saved
 * report; a plain controller stop only suspends it. The engine on fakes, a virtual clock.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RolloutEngine } from '../../src/rollout/engine.js';
import type { AnalysisEntry } from '../../src/rollout/types.js';
import type { MemoryStatusStore } from '../../src/store/memory.js';
import { describeEvent } from '../../src/rollout/event-text.js';
import { doc, docWith, World } from '../helpers/engine-world.js';

/** v2 at 20%, then a step analysis (`watch`) that only the rollout can end. */
async function atStepAnalysis(): Promise<{ w: World; engine: RolloutEngine; id: string }> {
  const w = new World(doc([{ setWeight: 20 }, { analysis: { templates: ['watch'] } }, { setWeight: 50 }]));
  const engine = await w.canaryAt20();
  await w.until(engine, 'the step analysis runs', () => engine.status.analyses.length === 1);
  for (let i = 0; i < 3; i++) await w.round(engine);
  return { w, engine, id: engine.status.analyses[0]!.id };
}

/** The entry and its saved report both say Stopped, with a reason matching `why`. */
async function assertStopped(w: World, engine: RolloutEngine, id: string, why: RegExp): Promise<AnalysisEntry> {
  await w.round(engine); // the supervisor ends the run at its next round
  const entry = engine.status.analyses.find((a) => a.id === id)!;
  assert.equal(entry.verdict, 'Stopped', JSON.stringify(entry));
  assert.match(entry.reason ?? '', why);
  const saved = w.store.runs.runReport('shop', id)!;
  assert.equal(saved.verdict, 'Stopped', JSON.stringify(saved));
  assert.notEqual(saved.endedAt, undefined, 'counted as a finished run');
  assert.match(saved.reason, why);
  const rows = (w.store.status as MemoryStatusStore).events.filter((e) => e.type === 'analysisStopped');
  const row = rows.find((e) => e.data.id === id);
  assert.ok(row, 'the event log says so once');
  assert.equal(rows.filter((e) => e.data.id === id).length, 1);
  assert.match(describeEvent(row), new RegExp(`^analysis ${id} Stopped: stopped: `));
  return entry;
}

describe('an analysis the rollout ends early is Stopped', () => {
  it('by an abort', async () => {
    const { w, engine, id } = await atStepAnalysis();
    assert.equal((await engine.send({ type: 'abort' })).rejected, undefined);
    await assertStopped(w, engine, id, /^stopped: aborted by a person$/);
    await w.until(engine, 'the rollback ends', () => engine.status.result !== undefined);
    assert.equal(engine.status.result?.outcome, 'Aborted');
    await engine.close();
  });

  it('by a crashed instance', async () => {
    const { w, engine, id } = await atStepAnalysis();
    w.target.exit('v2', 'exited with code 1');
    await assertStopped(w, engine, id, /^stopped: v2 failed: exited with code 1/);
    await engine.close();
  });

  it('by promote --full', async () => {
    const { w, engine, id } = await atStepAnalysis();
    assert.equal((await engine.send({ type: 'promote', full: true })).rejected, undefined);
    await assertStopped(w, engine, id, /^stopped: skipped by promote --full/);
    await w.until(engine, 'promoted', () => engine.status.result !== undefined);
    assert.equal(engine.status.result?.outcome, 'Promoted');
    await engine.close();
  });

  it('by the blue-green switch (the pre-promotion analysis)', async () => {
    const w = new World(
      docWith({
        canary: { steps: [{ setWeight: 20 }, { pause: { duration: '3s' } }], analysis: { templates: ['watch'] } },
        blueGreen: { scaleDownDelay: '0s' },
      }),
    );
    const engine = w.open();
    await w.deploy(engine);
    await w.until(engine, 'promoted', () => engine.status.result !== undefined);
    assert.equal(engine.status.result?.outcome, 'Promoted');
    const [bg] = engine.status.analyses;
    await assertStopped(w, engine, bg!.id, /^stopped: the blue-green switch ended the pre-promotion analysis/);

    await engine.close();
  });

  it('by kanari down --all before the run was ever opened (its first round had not come): its report is saved Stopped too', async () => {
    const w = new World(
      doc([{ setWeight: 20 }, { pause: { duration: '3s' } }, { analysis: { templates: ['watch'] } }]),
    );
    // The router's statistics stop coming once the canary has its 20%: analyses wait for them (a
    // loaded machine), so the run of the step after the pause is never opened before the controller is stopped.
    const sample = w.stats.source;
    let down = false;
    w.stats.source = () => (down ? Promise.reject(new Error('the router does not answer')) : sample());
    const engine = await w.canaryAt20();
    down = true;
    await w.until(engine, 'the step analysis starts', () => engine.status.analyses.length === 1);
    const id = engine.status.analyses[0]!.id;
    await engine.close({ stopInstances: true, stopReason: 'kanari down --all stopped the controller' });
    assert.equal(engine.status.analyses[0]!.verdict, 'Stopped');
    const report = w.store.runs.runReport('shop', id);
    assert.equal(report?.verdict, 'Stopped', 'counted apart in kanari_analysis_runs_total');
    assert.match(report?.reason ?? '', /^stopped: kanari down --all/);
  });

  it('by kanari down --all; the next controller pauses on it, and only resume runs it again', async () => {
    const { w, engine, id } = await atStepAnalysis();
    await engine.close({ stopInstances: true, stopReason: 'kanari down --all stopped the controller' });
    const entry = engine.status.analyses.find((a) => a.id === id)!;
    assert.equal(entry.verdict, 'Stopped');
    assert.match(entry.reason ?? '', /^stopped: kanari down --all/);
    assert.equal(w.store.runs.runReport('shop', id)?.verdict, 'Stopped');

    const again = w.open();
    await w.until(again, 'paused on the stopped analysis', () => again.status.phase === 'Paused');
    assert.equal(again.status.paused?.reason, 'stopped');
    assert.equal(again.status.step, 1, 'the step did not advance on a Stopped verdict');
    const promoted = await again.send({ type: 'promote' });
    assert.match(promoted.rejected ?? '', /stopped.*kanari resume/);
    assert.equal((await again.send({ type: 'resume' })).rejected, undefined);
    const running = again.status.analyses.filter((a) => a.endedAt === undefined);
    assert.equal(running.length, 1, 'a new attempt');
    assert.notEqual(running[0]!.id, id);
    await again.close();
  });

  it('but not at promotion: a background analysis run to the end gets the final verdict of its judge', async () => {
    const w = new World(doc([{ setWeight: 20 }, { pause: { duration: '3s' } }], ['watch']));
    const engine = w.open();
    await w.deploy(engine);
    await w.until(engine, 'promoted', () => engine.status.result !== undefined);
    await w.round(engine);
    const [bg] = engine.status.analyses;
    // `watch` has no count: what it has not shown by the end is Inconclusive, never Successful.
    assert.equal(bg!.verdict, 'Inconclusive', JSON.stringify(bg));
    assert.equal(w.store.runs.runReport('shop', bg!.id)?.verdict, 'Inconclusive');
    assert.equal(engine.status.result?.outcome, 'Promoted', 'a verdict after the end changes nothing');
    await engine.close();
  });

  it('but not by a plain controller stop: the next controller resumes the same run', async () => {
    const { w, engine, id } = await atStepAnalysis();
    const measured = engine.report(id)!.measurements;
    await engine.close();
    const again = w.open();
    await w.round(again);
    await w.round(again);
    const entry = again.status.analyses.find((a) => a.id === id)!;
    assert.equal(entry.verdict, 'Running');
    assert.equal(entry.endedAt, undefined);
    assert.ok(again.report(id)!.measurements > measured, 'it kept measuring into the same run');
    await again.close();
  });
});
