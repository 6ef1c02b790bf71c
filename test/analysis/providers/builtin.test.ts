import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { builtinQuery } from '../../../src/config/schemas/analysis.js';
import { BuiltinProvider, StatsRecorder } from '../../../src/analysis/providers/builtin.js';
import { LatencySketch, subtractSnapshot } from '../../../src/shared/sketch.js';
import { RouterStats } from '../../../src/router/stats.js';
import { KeyTracker, keyHasher } from '../../../src/router/keys.js';
import { countWindowOf } from '../../../src/analysis/providers/builtin.js';
import { keyLevel } from '../../../src/shared/key-stats.js';
import { type StatsSnapshot } from '../../../src/shared/stats-snapshot.js';
import { listenApp } from '../../../src/demo/app.js';
import { AdminClient } from '../../../src/router/client.js';
import { sendMany } from '../../helpers/load.js';
import { startTestRouter, TOKEN } from '../../helpers/router.js';

const available = { stable: true, canary: true, baseline: false };
const ctx = { service: 'svc' };

/** A router's counters at `time`, after serving what `serve` adds. */
function snapshotAt(stats: RouterStats, time: number): StatsSnapshot {
  return { ...stats.snapshot(1, available), time };
}

function serve(stats: RouterStats, version: 'stable' | 'canary', status: number, seconds: number, n = 1): void {
  for (let i = 0; i < n; i++) {
    stats.started(version);
    stats.finished(version, status, seconds);
  }
}

describe('latency sketch differences', () => {
  it('recovers exactly the values added between two snapshots', () => {
    const sketch = new LatencySketch();
    for (let i = 1; i <= 100; i++) sketch.add(i / 1000);
    const before = sketch.toJSON();
    const added = new LatencySketch();
    for (let i = 0; i < 50; i++) {
      sketch.add(0.5 + i / 100);
      added.add(0.5 + i / 100);
    }
    const delta = LatencySketch.from(subtractSnapshot(sketch.toJSON(), before)!);
    assert.equal(delta.count, 50);
    assert.deepEqual(delta.toJSON().bins, added.toJSON().bins);
    assert.ok(Math.abs(delta.quantile(0.5) - added.quantile(0.5)) / added.quantile(0.5) < 0.02);
    assert.ok(Math.abs(delta.sum - added.sum) < 1e-9);
  });

  it('says when the later snapshot is not a later state of the same sketch', () => {
    const a = new LatencySketch();
    a.add(0.1);
    a.add(0.2);
    assert.equal(subtractSnapshot(new LatencySketch().toJSON(), a.toJSON()), undefined);
  });
});

describe('stats recorder', () => {
  it('keeps per-interval deltas so any window sums them, and answers each signal', async () => {
    const stats = new RouterStats('svc');
    const recorder = new StatsRecorder();
    const provider = new BuiltinProvider(recorder);
    assert.equal(recorder.record(snapshotAt(stats, 1000)), undefined, 'the first snapshot is only a starting point');
    serve(stats, 'stable', 200, 0.01, 90);
    serve(stats, 'canary', 200, 0.05, 8);
    serve(stats, 'canary', 503, 0.05, 2);
    serve(stats, 'canary', 404, 0.05, 5);
    const d1 = recorder.record(snapshotAt(stats, 2000))!;
    assert.equal(d1.versions.canary.requests['5xx'], 2);
    serve(stats, 'canary', 200, 0.2, 10);
    recorder.record(snapshotAt(stats, 3000));

    const q = (fields: Record<string, unknown>) => ({ builtin: builtinQuery.parse(fields) });
    const first = { start: 1000, end: 2000 };
    const both = { start: 1000, end: 3000 };
    assert.deepEqual(await provider.query(q({ signal: 'requests' }), first, ctx), { kind: 'value', value: 15 });
    assert.deepEqual(await provider.query(q({ signal: 'requests' }), both, ctx), { kind: 'value', value: 25 });
    // 4xx are the client's: only 5xx count against the version.
    assert.deepEqual(await provider.query(q({ signal: 'errorRate' }), first, ctx), { kind: 'value', value: 2 / 15 });
    assert.deepEqual(await provider.query(q({ signal: 'successRate', version: 'stable' }), both, ctx), {
      kind: 'value',
      value: 1,
    });
    const p90 = await provider.query(q({ signal: 'latency', quantile: 0.9 }), both, ctx);
    assert.ok(p90.kind === 'value' && Math.abs((p90.value as number) - 0.2) < 0.004, JSON.stringify(p90));
    const series = await provider.query(q({ signal: 'requests' }), both, ctx, { step: 1000 });
    assert.deepEqual(series, { kind: 'value', value: [15, 10], series: [15, 10] });

    const none = await provider.query(q({ signal: 'successRate', version: 'baseline' }), both, ctx);
    assert.equal(none.kind, 'empty', 'no requests is not a success rate of 0 or 1');
    const later = await provider.query(q({ signal: 'errorRate' }), { start: 5000, end: 9000 }, ctx);
    assert.equal(later.kind, 'empty');
  });

  it("builds the sequential judge's comparison from one delta: canary against baseline when there is one", () => {
    const stats = new RouterStats('svc');
    const recorder = new StatsRecorder();
    recorder.record(snapshotAt(stats, 0));
    serve(stats, 'stable', 200, 0.01, 95);
    serve(stats, 'stable', 500, 0.01, 1);
    serve(stats, 'canary', 500, 0.3, 4);
    serve(stats, 'canary', 200, 0.01, 1);
    const w = StatsRecorder.comparison(recorder.record(snapshotAt(stats, 1000))!, {
      requests: 0.05,
      keys: 0.05,
      control: 'stable',
    });
    assert.equal(w.canary.requests, 5);
    assert.equal(w.canary.errors, 4);
    assert.equal(w.control.requests, 96);
    assert.equal(w.control.errors, 1);
    assert.equal(w.expectedShare, 0.05);
    assert.deepEqual(w.canary.latency!.countAbove([0.1, 1]), [4, 0]);
  });

  it('treats a router restart as a fresh start rather than negative traffic', () => {
    const recorder = new StatsRecorder();
    const old = new RouterStats('svc');
    serve(old, 'canary', 200, 0.01, 100);
    recorder.record(snapshotAt(old, 1000));
    const restarted = new RouterStats('svc');
    serve(restarted, 'canary', 500, 0.01, 3);
    const snap = { ...snapshotAt(restarted, 2000), startedAt: old.startedAt + 1 };
    const d = recorder.record(snap)!;
    assert.equal(d.reset, true);
    assert.equal(d.versions.canary.requests['5xx'], 3);
    assert.equal(d.versions.canary.requests['2xx'], 0);
  });

  it('forgets deltas older than its retention', () => {
    const stats = new RouterStats('svc');
    const recorder = new StatsRecorder(10_000);
    for (let t = 0; t <= 60_000; t += 1000) {
      serve(stats, 'canary', 200, 0.01);
      recorder.record(snapshotAt(stats, t));
    }
    assert.equal(recorder.within({ start: 0, end: 60_000 }).length, 10);
  });
});

describe('key counts from the router', () => {
  const hash = keyHasher('svc');
  /** The router's counters with a tracker's key counts, at `time`. */
  const at = (stats: RouterStats, keys: KeyTracker, time: number) => keys.addTo(snapshotAt(stats, time));

  it('takes deltas of first-seen, first-failing and first-slow keys, and sums them over a window', () => {
    const [stats, keys, recorder] = [new RouterStats('svc'), new KeyTracker(1024), new StatsRecorder()];
    recorder.record(at(stats, keys, 0));
    keys.add(hash('a'), 'canary', true, keyLevel(0.5));
    keys.add(hash('b'), 'canary', false, keyLevel(0.05));
    recorder.record(at(stats, keys, 1000));
    keys.add(hash('a'), 'canary', true, keyLevel(2));
    keys.add(hash('b'), 'canary', true, keyLevel(0.01));
    keys.add(hash('c'), 'stable', false, keyLevel(0.01));
    const second = recorder.record(at(stats, keys, 2000))!;
    const w = countWindowOf(second).versions;
    assert.deepEqual([w.canary.keys!.seen, w.canary.keys!.failed, w.stable.keys!.seen], [0, 1, 1]);
    assert.deepEqual(
      w.canary.keys!.slowAbove([0.1, 1]),
      [0, 1],
      'only a is newly above 1 s; nobody newly above 100 ms',
    );
    const both = recorder.totals('canary', { start: 0, end: 2000 }).toWindow().keys!;
    assert.deepEqual([both.seen, both.failed, ...both.slowAbove([0.01, 0.1, 1])], [2, 2, 2, 1, 1]);
  });

  it('takes the new cumulative counts as the delta when the epoch changes or the router restarts', () => {
    const [stats, keys, recorder] = [new RouterStats('svc'), new KeyTracker(1024), new StatsRecorder()];
    for (const k of ['a', 'b', 'c']) keys.add(hash(k), 'canary', true, keyLevel(0.01));
    recorder.record(at(stats, keys, 1000));
    keys.reset();
    keys.add(hash('a'), 'canary', true, keyLevel(0.01));
    const afterEpoch = recorder.record(at(stats, keys, 2000))!;
    assert.deepEqual([afterEpoch.versions.canary.keys!.seen, afterEpoch.versions.canary.keys!.failed], [1, 1]);
    const restarted = new KeyTracker(1024);
    restarted.add(hash('z'), 'stable', false, keyLevel(0.01));
    const snap = { ...at(new RouterStats('svc'), restarted, 3000), startedAt: stats.startedAt + 1 };
    const afterRestart = recorder.record(snap)!;
    assert.deepEqual([afterRestart.versions.canary.keys!.seen, afterRestart.versions.stable.keys!.seen], [0, 1]);
  });

  it('takes control from the configured split: a baseline with weight is control in a second it served nobody', () => {
    const [stats, recorder] = [new RouterStats('svc'), new StatsRecorder()];
    recorder.record(snapshotAt(stats, 0));
    serve(stats, 'canary', 200, 0.01, 5);
    serve(stats, 'stable', 200, 0.01, 90);
    const delta = recorder.record(snapshotAt(stats, 1000))!;
    const w = StatsRecorder.comparison(delta, { keys: 0.5, requests: 0.5, control: 'baseline' });
    assert.equal(w.control.requests, 0, "the quiet baseline, not stable's 90 requests");
    assert.equal(StatsRecorder.comparison(delta, undefined).control.requests, 90);
  });

  it('keeps taking key deltas when only the request counters start again (a worker replaced; the primary keeps the keys)', () => {
    const [stats, keys, recorder] = [new RouterStats('svc'), new KeyTracker(1024), new StatsRecorder()];
    for (const k of ['a', 'b', 'c']) keys.add(hash(k), 'stable', false, keyLevel(0.01));
    serve(stats, 'stable', 100, 0);
    recorder.record(at(stats, keys, 1000));
    keys.add(hash('d'), 'stable', false, keyLevel(0.01));
    const delta = recorder.record(at(new RouterStats('svc'), keys, 2000))!;
    assert.equal(delta.reset, true);
    assert.equal(delta.keysRestarted, undefined);
    assert.equal(delta.versions.stable.keys!.seen, 1);
    assert.equal(countWindowOf(delta).usersRestarted, undefined);
  });

  it('leaves keys out of the window when the router does not track them', () => {
    const [stats, recorder] = [new RouterStats('svc'), new StatsRecorder()];
    recorder.record(snapshotAt(stats, 0));
    serve(stats, 'canary', 500, 0.01);
    assert.equal(countWindowOf(recorder.record(snapshotAt(stats, 1000))!).versions.canary.keys, undefined);
  });
});

describe('builtin provider on a live router', () => {
  it('samples /stats over HTTP and reads what real requests did', async () => {
    const stable = await listenApp({ name: 'v1', port: 0 });
    const canary = await listenApp({ name: 'v2', port: 0, errorRate: 1 });
    const router = await startTestRouter({
      pools: { stable: [`http://127.0.0.1:${stable.port}`], canary: [`http://127.0.0.1:${canary.port}`] },
      weights: { canary: 20 },
    });
    try {
      const admin = new AdminClient(router.adminUrl, TOKEN);
      const recorder = new StatsRecorder();
      recorder.record(await admin.stats());
      const replies = await sendMany(router.port, 400, 8);
      await new Promise((r) => setTimeout(r, 5));
      const delta = recorder.record(await admin.stats())!;
      const failed = replies.filter((r) => r.status >= 500).length;
      const window = { start: delta.start, end: delta.end };
      const provider = new BuiltinProvider(recorder);
      assert.deepEqual(
        await provider.query({ builtin: builtinQuery.parse({ signal: 'requests', version: 'canary' }) }, window, ctx),
        { kind: 'value', value: failed },
      );
      assert.deepEqual(
        await provider.query({ builtin: builtinQuery.parse({ signal: 'errorRate', version: 'canary' }) }, window, ctx),
        { kind: 'value', value: 1 },
      );
      assert.deepEqual(
        await provider.query({ builtin: builtinQuery.parse({ signal: 'requests', version: 'stable' }) }, window, ctx),
        { kind: 'value', value: 400 - failed },
      );
      assert.ok(failed > 40 && failed < 130, `about 20% went to the canary (${failed})`);
    } finally {
      await router.close();
      stable.server.close();
      canary.server.close();
    }
  });
});
