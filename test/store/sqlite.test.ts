import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnalysisRun, type AnalysisReport, type MeasurementRecord } from '../../src/analysis/run.js';
import { BuiltinProvider, StatsRecorder } from '../../src/analysis/providers/builtin.js';
import { Providers } from '../../src/analysis/providers/index.js';
import { BUILTIN_TEMPLATES } from '../../src/config/templates.js';
import { Store } from '../../src/store/sqlite.js';

const measurement = (i: number): MeasurementRecord => ({
  metric: 'window',
  window: { start: i * 1000, end: (i + 1) * 1000 },
  outcome: 'value',
  value: i,
});

describe('SQLite store', () => {
  it("appends an analysis run's measurements: each save writes what was added, and a reopened store returns them all in order", () => {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-store-'));
    try {
      const path = join(dir, 'kanari.db');
      const recorder = new StatsRecorder();
      const run = AnalysisRun.start('sequential', BUILTIN_TEMPLATES.sequential!, 'background', 0, {
        service: 's',
        providers: new Providers(new BuiltinProvider(recorder)),
        recorder,
      });
      const { state } = run.persisted(0);
      const report = run.report() as AnalysisReport;
      let store = new Store(path);
      const sizes: number[] = [];
      for (let tick = 0; tick < 50; tick++) {
        store.saveRun('shop', 1, 'r1', state, report, tick, {
          from: tick * 2,
          items: [measurement(tick * 2), measurement(tick * 2 + 1)],
        });
        const db = new Database(path, { readonly: true });
        sizes.push((db.prepare('select length(state) as n from analysis_runs').get() as { n: number }).n);
        db.close();
      }
      assert.equal(new Set(sizes).size, 1, 'the saved state does not grow with the measurements');
      store.close();
      store = new Store(path);
      const back = store.run('shop', 'r1')!;
      assert.deepEqual(
        back.state.measurements.map((m) => m.value),
        Array.from({ length: 100 }, (_, i) => i),
      );
      assert.equal(back.state.template, 'sequential');
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts finished runs by verdict for kanari_analysis_runs_total: Stopped apart from Successful, running ones not at all', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-store-'));
    try {
      const store = new Store(join(dir, 'kanari.db'));
      const recorder = new StatsRecorder();
      const env = { service: 's', providers: new Providers(new BuiltinProvider(recorder)), recorder };
      const runs = ['passed', 'stopped', 'running'].map((id) => {
        const run = AnalysisRun.start('sequential', BUILTIN_TEMPLATES.sequential!, 'step', 0, env);
        return { id, run };
      });
      runs[0]!.run.finish(1000);
      runs[1]!.run.stop(1000, 'stopped: aborted by a person');
      for (const { id, run } of runs)
        store.saveRun('shop', 1, id, run.persisted(0).state, run.report(), 1000, { from: 0, items: [] });
      const counts = store.verdictCounts().map((c) => `${c.template} ${c.verdict} ${c.n}`);
      assert.deepEqual(counts.sort(), [`sequential ${runs[0]!.run.verdict()} 1`, 'sequential Stopped 1'].sort());
      assert.notEqual(runs[0]!.run.verdict(), 'Stopped');
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("deletes a rollout's rows but its event log, which a deleted event ends and another rollout of the name starts after", () => {
    const store = new Store(':memory:');
    const status = { updatedAt: 1, phase: 'StableOnly' } as never;
    for (const name of ['shop', 'cart']) {
      store.putRollout({ name, document: {}, templates: {}, status });
      store.setRecord(name, 'router', { pid: 1 });
      store.appendEvent(name, 1, 1, 'deploy', {});
      store.saveRun(name, 1, 'r1', {} as never, {} as never, 1, { from: 0, items: [measurement(0)] });
    }
    assert.equal(store.deletedAt('shop'), 0);
    store.deleteRollout('shop', 1, 2);
    assert.deepEqual(
      store.rollouts().map((r) => r.name),
      ['cart'],
    );
    assert.equal(store.record('shop', 'router'), undefined);
    assert.equal(store.run('shop', 'r1'), undefined);
    assert.deepEqual(
      store.events('shop').map((e) => e.type),
      ['deploy', 'measurement', 'deleted'],
    );
    assert.ok(store.deletedAt('shop') > 0);
    assert.deepEqual(store.events('shop', { after: store.deletedAt('shop') }), []);
    assert.deepEqual(store.record('cart', 'router'), { pid: 1 }, 'another rollout keeps its rows');
    assert.ok(store.run('cart', 'r1'));
    store.close();
  });
});
