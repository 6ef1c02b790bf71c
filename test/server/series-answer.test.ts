import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StatsDelta } from '../../src/analysis/providers/builtin.js';
import type { HttpError } from '../../src/shared/http.js';
import { LatencySketch } from '../../src/shared/sketch.js';
import type { StatsSnapshot } from '../../src/shared/stats-snapshot.js';
import { answerWidth, rolloutSeries, seriesRange } from '../../src/server/series.js';
import { Store } from '../../src/store/sqlite.js';

const T = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

function delta(end: number, requests: number): StatsDelta {
  const latency = new LatencySketch();
  for (let i = 0; i < requests; i++) latency.add(0.01);
  const version = (n: number) => ({
    requests: { '1xx': 0, '2xx': n, '3xx': 0, '4xx': 0, '5xx': 0 },
    latency: (n > 0 ? latency : new LatencySketch()).toJSON(),
  });
  return { start: end - 1000, end, versions: { stable: version(requests), canary: version(0), baseline: version(0) } };
}

function withStore(test: (store: Store) => Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-series-'));
    const store = new Store(join(dir, 'kanari.db'));
    try {
      await test(store);
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const total = (xs: readonly (number | null)[] | undefined) => (xs ?? []).reduce<number>((a, b) => a + (b ?? 0), 0);

describe('answering a series', () => {
  it(
    'reads one snapshot: what the store writes and merges meanwhile is not seen half-way',
    withStore(async (store) => {
      for (let s = 1; s <= 3600; s++) store.saveStats('shop', {} as StatsSnapshot, delta(T + s * 1000, 2), HOUR);
      const reader = store.history.reader();
      const seen = () => reader.rows('shop', T, T + HOUR + 1000).map((r) => [r.width, r.start]);
      try {
        const before = seen();
        assert.equal(before.length, 3600, 'an hour of seconds');
        // Half an hour passes: the first half hour's seconds are merged into 10 s buckets.
        for (let s = 3601; s <= 5400; s++) store.saveStats('shop', {} as StatsSnapshot, delta(T + s * 1000, 0), HOUR);
        assert.deepEqual(seen(), before, 'the reader still sees the store as it was');
      } finally {
        reader.close();
      }
      const now = store.history.rows('shop', T, T + HOUR + 1000);
      assert.ok(
        now.some((r) => r.width === 10_000) && now.length < 2000,
        'while the store has merged the first half hour into 10 s buckets',
      );
      const answer = await rolloutSeries(store.history, 'shop', { from: T, to: T + 2 * HOUR, points: 200 });
      assert.equal(total(answer.versions.stable?.requests), 2 * 3600);
    }),
  );

  it(
    'answers two at a time, and a third at once with 503 and Retry-After',
    withStore(async (store) => {
      store.saveStats('shop', {} as StatsSnapshot, delta(T + 1000, 1), HOUR);
      const range = { from: T - 31 * 24 * HOUR + 1, to: T + HOUR, points: 100 };
      const two = [rolloutSeries(store.history, 'shop', range), rolloutSeries(store.history, 'shop', range)];
      await assert.rejects(rolloutSeries(store.history, 'shop', range), (err: HttpError) => {
        assert.equal(err.status, 503);
        assert.equal(err.headers['retry-after'], '1');
        return true;
      });
      for (const answer of await Promise.all(two)) assert.equal(total(answer.versions.stable?.requests), 1);
      assert.equal(total((await rolloutSeries(store.history, 'shop', range)).versions.stable?.requests), 1);
    }),
  );

  it('never answers more buckets than asked, whatever the range', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) as number;
    for (let i = 0; i < 2000; i++) {
      const from = Math.floor(random() * 2e12);
      const to = from + 1 + Math.floor(random() ** 4 * 31 * 86_400_000);
      const points = 10 + Math.floor(random() * 1990);
      const atLeast = [0, 1000, 10_000, 60_000][i % 4]!;
      const w = answerWidth({ from, to, points }, atLeast);
      assert.equal(w % Math.max(1, atLeast), 0, `${w} is a multiple of the widest stored bucket ${atLeast}`);
      assert.ok(
        Math.ceil(to / w) - Math.floor(from / w) <= points,
        `from ${from} to ${to} points ${points}: width ${w}`,
      );
    }
  });

  it('reads from, to and points, with defaults, or says why not', () => {
    const now = T;
    assert.deepEqual(seriesRange(new URLSearchParams(), now), { from: now - HOUR, to: now, points: 300 });
    assert.deepEqual(seriesRange(new URLSearchParams('from=1000&to=5000&points=10'), now), {
      from: 1000,
      to: 5000,
      points: 10,
    });
    for (const bad of [
      'points=9',
      'points=2001',
      'points=0x10',
      'points=%2010',
      'from=+1',
      'to=1&from=1',
      'to=Infinity',
    ]) {
      assert.throws(
        () => seriesRange(new URLSearchParams(bad), now),
        (err: HttpError) => err.status === 400 && /must/.test(err.message),
        bad,
      );
    }
  });
});
