import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BuiltinProvider,
  StatsRecorder,
  type StatsDelta,
  type VersionDelta,
} from '../../src/analysis/providers/builtin.js';
import { Providers } from '../../src/analysis/providers/index.js';
import { AnalysisRun, type AnalysisReport } from '../../src/analysis/run.js';
import { BUILTIN_TEMPLATES } from '../../src/config/templates.js';
import { LatencySketch } from '../../src/shared/sketch.js';
import type { StatsSnapshot } from '../../src/shared/stats-snapshot.js';
import { denseSketch, evidenceOf, mergeDense, sparseSketch } from '../../src/store/history.js';
import { Store } from '../../src/store/sqlite.js';
import { rolloutSeries, seriesAnswer } from '../../src/server/series.js';

const T = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
const SNAPSHOT = { time: 0 } as StatsSnapshot;

/** A version's second: `ok` 200s and `failed` 500s, each taking `seconds`. */
function served(ok: number, failed = 0, seconds = 0.01): VersionDelta {
  const latency = new LatencySketch();
  for (let i = 0; i < ok + failed; i++) latency.add(seconds);
  return { requests: { '1xx': 0, '2xx': ok, '3xx': 0, '4xx': 0, '5xx': failed }, latency: latency.toJSON() };
}

function delta(end: number, versions: Partial<StatsDelta['versions']>): StatsDelta {
  const none = served(0);
  return { start: end - 1000, end, versions: { stable: none, canary: none, baseline: none, ...versions } };
}

function sequentialReport(logE: number): AnalysisReport {
  return {
    template: 'sequential',
    judge: 'sequential',
    scope: 'background',
    startedAt: T,
    verdict: 'Running',
    score: 100,
    reason: '',
    measurements: 0,
    metrics: [{ name: 'errors', verdict: 'Running', summary: '', details: { eValue: Math.exp(logE), alpha: 0.05 } }],
  };
}

const SPIKE_AT = T + 120_000;

/** A store with 75 minutes of a delta each second, `versions` saying what each served; the spike: 5 s in minute 2. */
function withSpike(versions: (spiking: boolean) => Partial<StatsDelta['versions']>): Store {
  const store = new Store(':memory:');
  for (let s = 1; s <= 75 * 60; s++) {
    const end = T + s * 1000;
    store.saveStats('shop', SNAPSHOT, delta(end, versions(end > SPIKE_AT && end <= SPIKE_AT + 5000)), HOUR);
  }
  return store;
}

describe('rollout history in the SQLite store', () => {
  it('a 5-second error spike early in a rollout is still visible an hour later, after its seconds were merged', () => {
    // Canary traffic at 20 requests a second, failing all of them during the spike.
    const store = withSpike((spiking) => ({ stable: served(20), canary: served(spiking ? 0 : 20, spiking ? 20 : 0) }));
    const widths = new Set(store.history.rows('shop', T, T + 600_000).map((r) => r.width));
    assert.deepEqual([...widths], [10_000], 'the first ten minutes are kept at 10 s, no longer per second');
    const chart = seriesAnswer(
      { from: T, to: T + 75 * 60_000, points: 100 },
      store.history.rows('shop', T, T + 75 * 60_000),
    );
    assert.equal(chart.width, 60_000, '75 minutes in at most 100 points: one a minute');
    const canary = chart.versions.canary!;
    const minute = chart.t.indexOf(SPIKE_AT);
    assert.equal(canary.maxErrorRate[minute], 1, 'the spike keeps its peak: every request of a second failed');
    assert.equal(canary.errors[minute], 100, 'and its 100 failed requests are all counted');
    assert.equal(canary.requests[minute], 1200);
    assert.deepEqual(
      canary.maxErrorRate.filter((r, i) => i !== minute && r !== 0),
      [],
      'no other minute shows errors',
    );
    assert.equal(
      chart.versions.stable!.errors.reduce((a, b) => a! + b!, 0),
      0,
    );
    store.close();
  });

  it("a 5-second latency spike keeps its height in a wide bucket's maxP99, where the bucket's p99 hides it", () => {
    // 20 requests a second of 10 ms, but of 2 s during the spike: under 1% of any 10-minute bucket.
    const store = withSpike((slow) => ({ canary: served(20, 0, slow ? 2 : 0.01) }));
    const chart = seriesAnswer(
      { from: T, to: T + 75 * 60_000, points: 10 },
      store.history.rows('shop', T, T + 75 * 60_000),
    );
    assert.equal(chart.width, 600_000);
    const canary = chart.versions.canary!;
    assert.ok(canary.p99[0]! < 0.011, `the first bucket's p99 (${canary.p99[0]}) is of its 99% fast requests`);
    assert.ok(Math.abs(canary.maxP99[0]! - 2) < 0.02, `its maxP99 (${canary.maxP99[0]}) is the slow seconds' 2 s`);
    assert.ok(
      canary.maxP99.slice(1).every((p) => p !== null && p < 0.011),
      'no other bucket shows slow seconds',
    );
    store.close();
  });

  it('quantiles are of the merged requests, never an average of quantiles', () => {
    const store = new Store(':memory:');
    // One second of 99 fast requests, then one of a single slow one: the p50 of all 100 is fast.
    store.saveStats('shop', SNAPSHOT, delta(T + 1000, { stable: served(99, 0, 0.01) }), HOUR);
    store.saveStats('shop', SNAPSHOT, delta(T + 2000, { stable: served(1, 0, 2) }), HOUR);
    // An hour later both seconds are one 10 s bucket.
    store.saveStats('shop', SNAPSHOT, delta(T + HOUR + 20_000, {}), HOUR);
    const rows = store.history.rows('shop', T, T + 10_000);
    assert.deepEqual(
      rows.map((r) => [r.width, r.start]),
      [[10_000, T]],
    );
    const chart = seriesAnswer({ from: T, to: T + 10_000, points: 10 }, rows);
    const stable = chart.versions.stable!;
    assert.ok(Math.abs(stable.p50[0]! - 0.01) < 0.0002, `p50 ${stable.p50[0]} is the fast requests' (10 ms), not 1 s`);
    assert.ok(stable.p99[0]! < 0.011, `p99 ${stable.p99[0]}: 99 of 100 requests were fast`);
    store.close();
  });

  it('keeps and merges a latency sketch exactly in its dense form, however far apart its values', () => {
    const sketch = new LatencySketch();
    for (const v of [0, 1e-6, 0.005, 0.005, 0.0051, 3000]) sketch.add(v);
    assert.deepEqual(sparseSketch(denseSketch(sketch.toJSON())), sketch.toJSON());
    assert.deepEqual(sparseSketch(denseSketch(new LatencySketch().toJSON())), new LatencySketch().toJSON());
    const other = new LatencySketch();
    for (const v of [0.0001, 0.005, 7]) other.add(v);
    const merged = LatencySketch.from(sketch.toJSON()).merge(other).toJSON();
    assert.deepEqual(sparseSketch(mergeDense(denseSketch(sketch.toJSON()), denseSketch(other.toJSON()))), merged);
    assert.deepEqual(sparseSketch(mergeDense(denseSketch(other.toJSON()), denseSketch(sketch.toJSON()))), merged);
    const empty = denseSketch(new LatencySketch().toJSON());
    assert.deepEqual(sparseSketch(mergeDense(empty, denseSketch(other.toJSON()))), other.toJSON());
    assert.deepEqual(sparseSketch(mergeDense(empty, empty)), new LatencySketch().toJSON());
  });

  it('keeps ten-second buckets for six hours, then minutes, and never drops a request', () => {
    const store = new Store(':memory:');
    // One request every 20 s for 26 hours: seconds, 10 s and minute buckets all come into play.
    let sent = 0;
    for (let at = T + 20_000; at <= T + 26 * HOUR; at += 20_000) {
      store.saveStats('shop', SNAPSHOT, delta(at, { canary: served(1) }), HOUR);
      sent++;
    }
    const rows = store.history.rows('shop', T, T + 27 * HOUR);
    const widthsFrom = (at: number) => [
      ...new Set(rows.filter((r) => r.start >= at && r.start < at + 120_000).map((r) => r.width)),
    ];
    assert.deepEqual(widthsFrom(T + HOUR), [60_000], 'older than six hours: minutes');
    assert.deepEqual(widthsFrom(T + 22 * HOUR), [10_000], 'older than an hour: 10 s');
    assert.deepEqual(widthsFrom(T + 26 * HOUR - 300_000), [1_000], 'the last hour: seconds');
    const total = rows.reduce((n, r) => n + ((r.data as { canary?: { requests: number } }).canary?.requests ?? 0), 0);
    assert.equal(total, sent);
    assert.ok(
      rows.length <= 20 * 60 + 5 * 180 + 180 + 5,
      `${rows.length} rows: a minute, a 10 s bucket or a second each`,
    );
    store.close();
  });

  it("keeps each round's evidence, with the largest of a bucket, and the rollback line", () => {
    const store = new Store(':memory:');
    const state = { measurements: [] } as never;
    const logEs = [0.5, 2.9, 1.0, 0.2];
    logEs.forEach((logE, i) =>
      store.saveRun('shop', 1, 'run-1', state, sequentialReport(logE), T + (i + 1) * 1000, { from: 0, items: [] }),
    );
    store.saveStats('shop', SNAPSHOT, delta(T + 2 * HOUR, {}), HOUR);
    const chart = seriesAnswer({ from: T, to: T + 60_000, points: 10 }, store.history.rows('shop', T, T + 60_000));
    assert.equal(chart.evidence.length, 1);
    const [e] = chart.evidence;
    assert.equal(e!.run, 'run-1');
    assert.equal(e!.metric, 'errors');
    assert.ok(Math.abs(e!.rollbackAt - Math.log(20)) < 1e-12, 'ln(1/α) with α = 0.05');
    assert.equal(e!.points.length, 1);
    const [at, last, max] = e!.points[0]!;
    assert.equal(at, T);
    assert.ok(Math.abs(last - 0.2) < 1e-9 && Math.abs(max - 2.9) < 1e-9, `last ${last}, largest ${max}`);
    store.close();
  });

  it("takes each metric's evidence from a real sequential run's report, up to its rollback line", async () => {
    const recorder = new StatsRecorder();
    const run = AnalysisRun.start('sequential', BUILTIN_TEMPLATES.sequential!, 'background', T, {
      service: 'shop',
      providers: new Providers(new BuiltinProvider(recorder)),
      recorder,
    });
    // The canary fails one request in five, stable none: the error metric's evidence crosses its line.
    for (let s = 1; s <= 30 && run.report().verdict === 'Running'; s++) {
      recorder.append(delta(T + s * 1000, { stable: served(100), canary: served(80, 20) }));
      await run.tick(T + s * 1000);
    }
    const report = run.report();
    assert.equal(report.verdict, 'Failed', report.reason);
    const evidence = evidenceOf(report)!;
    assert.deepEqual(
      Object.keys(evidence.metrics),
      report.metrics.map((m) => m.name),
    );
    const failed = report.metrics.find((m) => m.verdict === 'Failed')!;
    const cell = evidence.metrics[failed.name]!;
    assert.ok(cell.logE >= cell.rollbackAt, `ln E ${cell.logE} reached ln(1/α) ${cell.rollbackAt}`);
    assert.ok(Number.isFinite(cell.logE) && cell.rollbackAt > 0);
    assert.equal(evidenceOf({ ...report, judge: 'threshold' }), undefined, 'only the sequential judge has evidence');
    const extremes = [0, Infinity].map((eValue) => ({
      ...report.metrics[0]!,
      details: { eValue, alpha: 0.05 },
    }));
    const kept = evidenceOf({ ...report, metrics: extremes.map((m, i) => ({ ...m, name: `m${i}` })) })!;
    assert.deepEqual(
      Object.values(kept.metrics).map((c) => c.logE),
      [-700, 700],
      'e-values of 0 and ∞ are kept as finite logs, which JSON can carry',
    );
  });

  it("drops one rollout's history and only its own (for a rollout deleted)", () => {
    const store = new Store(':memory:');
    for (const name of ['shop', 'cart']) store.saveStats(name, SNAPSHOT, delta(T + 1000, { stable: served(1) }), HOUR);
    assert.ok(store.history.bytes('shop') > 0);
    store.history.drop('shop');
    assert.equal(store.history.bytes('shop'), 0);
    assert.deepEqual(store.history.rows('shop', T, T + HOUR), []);
    assert.equal(store.history.rows('cart', T, T + HOUR).length, 1);
    store.close();
  });

  it('a bucket it cannot read (hand-edited, or an older kanari’s) never stops the statistics or a run from being saved', () => {
    const store = new Store(':memory:');
    store.saveStats('shop', SNAPSHOT, delta(T + 1000, { stable: served(1) }), HOUR);
    const db = (store as unknown as { db: { exec(sql: string): void } }).db;
    db.exec(`update history set data = '{"stable":{"latency":{"accuracy":0.5}}}'`);
    store.saveStats('shop', SNAPSHOT, delta(T + 1500, { stable: served(2) }), HOUR);
    db.exec(`insert into history values ('shop', 'traffic', 1000, ${T + 2000}, 'not json')`);
    store.saveStats('shop', SNAPSHOT, delta(T + 2 * HOUR, { stable: served(3) }), HOUR);
    assert.equal(store.deltas('shop').at(-1)?.end, T + 2 * HOUR, 'the statistics were saved');
    const requests = store.history
      .rows('shop', T, T + 3 * HOUR)
      .reduce((n, r) => n + ((r.data as { stable?: { requests: number } }).stable?.requests ?? 0), 0);
    assert.equal(requests, 2 + 3, 'what could not be read was replaced or left out, the rest kept');
    db.exec(`insert into history values ('shop', 'evidence:run-1', 1000, ${T + 2 * HOUR}, '[')`);
    store.saveRun('shop', 1, 'run-1', { measurements: [] } as never, sequentialReport(1), T + 2 * HOUR, {
      from: 0,
      items: [],
    });
    assert.ok(store.runReport('shop', 'run-1'), 'the run was saved');
    db.exec(
      `insert into history values ('shop', 'traffic', 1000, ${T + 2 * HOUR + 5000}, '{"canary":{"requests":-1}}')`,
    );
    const chart = seriesAnswer(
      { from: T + HOUR, to: T + 3 * HOUR, points: 100 },
      store.history.rows('shop', T + HOUR, T + 3 * HOUR),
    );
    assert.equal(chart.versions.canary, undefined, 'a bucket of the wrong shape is not read');
    assert.equal(
      chart.versions.stable!.requests.reduce((a, b) => a! + (b ?? 0), 0),
      3,
    );
    store.close();
  });

  it("a deleted rollout's history goes with it, and a new rollout of its name starts without its marks", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-history-'));
    const store = new Store(join(dir, 'kanari.db'));
    try {
      store.saveStats('shop', SNAPSHOT, delta(T + 1000, { stable: served(1) }), HOUR);
      store.appendEvent('shop', 1, T + 1000, 'status', { phase: 'SmallTraffic' });
      store.deleteRollout('shop', 1, T + 2000);
      assert.equal(store.history.bytes('shop'), 0, 'its buckets are gone');
      store.appendEvent('shop', 1, T + 3000, 'deploy', {});
      const series = await rolloutSeries(store.history, 'shop', { from: T, to: T + HOUR, points: 10 });
      assert.deepEqual(
        series.marks.map((m) => m.type),
        ['deploy'],
        "the new rollout's marks only",
      );
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('history survives closing and reopening the store (a controller killed and restarted)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-history-'));
    try {
      const path = join(dir, 'kanari.db');
      const before = new Store(path);
      for (let s = 1; s <= 30; s++)
        before.saveStats('shop', SNAPSHOT, delta(T + s * 1000, { canary: served(3, 1) }), HOUR);
      before.close();
      const after = new Store(path);
      const chart = seriesAnswer({ from: T, to: T + 60_000, points: 10 }, after.history.rows('shop', T, T + 60_000));
      assert.equal(
        chart.versions.canary!.requests.reduce((a, b) => a! + (b ?? 0), 0),
        120,
      );
      after.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
