/**
 * What every `RolloutStore` part must do, run against each implementation (in memory and
 * SQLite): keep a rollout's document and status, save a transition whole, append a run's
 * measurements where they left off, keep and forget records, and keep statistics deltas
 * for their retention only. What goes in comes back equal, not the same object.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StatsRecorder } from '../../src/analysis/providers/builtin.js';
import type { AnalysisReport, AnalysisRunState, MeasurementRecord } from '../../src/analysis/run.js';
import { BUILTIN_TEMPLATES } from '../../src/config/templates.js';
import { rolloutSpec } from '../../src/config/schemas/rollout.js';
import { initialStatus } from '../../src/rollout/machine.js';
import type { RolloutStore } from '../../src/rollout/seams/store.js';
import { RouterStats } from '../../src/router/stats.js';
import { KeyTracker } from '../../src/router/keys.js';
import { NO_LEVEL } from '../../src/shared/key-stats.js';

export interface StoreUnderTest {
  store: RolloutStore;
  close(): void;
}

const spec = rolloutSpec.parse({
  listen: 0,
  stable: { version: 'v1', upstreams: ['http://127.0.0.1:9001'] },
  canary: { upstreams: ['http://127.0.0.1:9002'] },
  strategy: { canary: { steps: [{ setWeight: 10 }] } },
});
const T = 1_700_000_000_000;

const measurement = (n: number): MeasurementRecord =>
  ({ metric: 'errors', window: { start: T + n * 1000, end: T + (n + 1) * 1000 }, outcome: 'value', value: n }) as never;
const runState = (through: number): AnalysisRunState => ({
  template: 'sequential',
  spec: BUILTIN_TEMPLATES.sequential!,
  scope: 'background',
  startedAt: T,
  through,
  measurements: [],
});
const report = (measurements: number): AnalysisReport => ({
  template: 'sequential',
  judge: 'sequential',
  scope: 'background',
  startedAt: T,
  verdict: 'Running',
  score: 100,
  reason: 'no evidence yet',
  metrics: [],
  measurements,
});

export function rolloutStoreConformance(name: string, open: () => StoreUnderTest): void {
  describe(`RolloutStore conformance: ${name}`, () => {
    const withStore = (test: (s: RolloutStore) => void) => () => {
      const u = open();
      try {
        test(u.store);
      } finally {
        u.close();
      }
    };

    it(
      'status: keeps a rollout, and saves a transition (events and status) whole',
      withStore(({ status }) => {
        assert.equal(status.rollout('shop'), undefined);
        const s0 = initialStatus(spec, T);
        status.putRollout({ name: 'shop', document: { kind: 'Rollout' }, templates: {}, status: s0 });
        assert.deepEqual(status.rollout('shop'), {
          name: 'shop',
          document: { kind: 'Rollout' },
          templates: {},
          status: s0,
        });
        const s1 = { ...s0, revision: 1, message: 'starting v2', updatedAt: T + 1 };
        status.saveTransition('shop', [{ revision: 1, at: T + 1, type: 'deploy', data: { version: 'v2' } }], s1);
        assert.deepEqual(status.rollout('shop')?.status, s1);
        status.appendEvent('shop', 1, T + 2, 'notificationFailed', { url: 'http://x' });
        s1.message = 'changed after saving';
        assert.equal(status.rollout('shop')?.status.message, 'starting v2', 'a saved status is a copy');
      }),
    );

    it(
      'runs: measurements are appended from where the last save left off, in order',
      withStore(({ runs }) => {
        assert.equal(runs.run('shop', 'r1'), undefined);
        runs.saveRun('shop', 1, 'r1', runState(T + 2000), report(2), T + 2000, {
          from: 0,
          items: [measurement(0), measurement(1)],
        });
        runs.saveRun('shop', 1, 'r1', runState(T + 3000), report(3), T + 3000, { from: 2, items: [measurement(2)] });
        const saved = runs.run('shop', 'r1')!;
        assert.deepEqual(saved.state, { ...runState(T + 3000), measurements: [0, 1, 2].map(measurement) });
        assert.deepEqual(saved.report, report(3));
        assert.deepEqual(runs.runReport('shop', 'r1'), report(3));
        assert.equal(runs.run('other', 'r1'), undefined, 'runs are per rollout');
      }),
    );

    it(
      'records: kept by rollout and key, replaced, and forgotten with undefined',
      withStore(({ records }) => {
        records.setRecord('shop', 'instance:v1', { pids: [1, 2], ports: [3, 4] });
        records.setRecord('shop', 'instance:v1', { pids: [5], ports: [6] });
        assert.deepEqual(records.record('shop', 'instance:v1'), { pids: [5], ports: [6] });
        assert.equal(records.record('other', 'instance:v1'), undefined);
        records.setRecord('shop', 'instance:v1', undefined);
        assert.equal(records.record('shop', 'instance:v1'), undefined);
      }),
    );

    it(
      'stats: the last snapshot, and deltas within their retention, oldest first',
      withStore(({ stats }) => {
        const router = new RouterStats('shop');
        const keys = new KeyTracker(1024);
        const recorder = new StatsRecorder();
        const at = (s: number) =>
          keys.addTo({ ...router.snapshot(1, { stable: true, canary: false, baseline: false }), time: T + s * 1000 });
        recorder.record(at(0));
        for (let s = 1; s <= 5; s++) {
          router.started('stable');
          router.finished('stable', 200, 0.01);
          keys.add(s, 'stable', s === 5, NO_LEVEL + s);
          const snapshot = at(s);
          stats.saveStats('shop', snapshot, recorder.record(snapshot), 2500);
        }
        assert.equal(stats.lastSnapshot('shop')?.time, T + 5000);
        assert.deepEqual(
          stats.deltas('shop').map((d) => d.end),
          [T + 3000, T + 4000, T + 5000],
          'deltas older than the retention are dropped',
        );
        assert.deepEqual(
          stats.deltas('shop').at(-1)!.versions.stable.keys,
          {
            seen: 1,
            failed: 1,
            slow: [
              [NO_LEVEL, 1],
              [NO_LEVEL + 5, -1],
            ],
          },
          'key counts are kept with the deltas, so a restarted controller judges users as before',
        );
        assert.deepEqual(stats.deltas('other'), []);
      }),
    );
  });
}
