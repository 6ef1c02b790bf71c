import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keyLevel, keysAbove, NO_LEVEL } from '../../src/shared/key-stats.js';
import { murmur3 } from '../../src/router/hash.js';
import { KeyRecorder, KeyTracker, keyHasher, startsFresh } from '../../src/router/keys.js';
import { bucketOf } from '../../src/router/split.js';
import { KeyBatcher, replayBatch } from '../../src/router/key-batch.js';
import type { RoutingTable, Version } from '../../src/config/schemas/table.js';

const hash = keyHasher('shop');

/** A small deterministic generator, so random data is the same on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('KeyTracker', () => {
  it('counts a key with many errors as one failed key, and its first request as one seen key', () => {
    const t = new KeyTracker(1024);
    const rec = new KeyRecorder('shop', t);
    for (let i = 0; i < 50; i++) rec.record('bot-1', 'canary', 503, 0.01);
    assert.equal(t.stats('canary').seen, 1);
    assert.equal(t.stats('canary').failed, 1);
  });

  it("counts a key's first error on the version that served it, also after its arm changed", () => {
    const t = new KeyTracker(1024);
    const rec = new KeyRecorder('shop', t);
    rec.record('u', 'stable', 200, 0.01);
    rec.record('u', 'canary', 502, 0.01);
    rec.record('u', 'stable', 500, 0.01);
    assert.deepEqual([t.stats('stable').seen, t.stats('stable').failed], [1, 0]);
    assert.deepEqual([t.stats('canary').seen, t.stats('canary').failed], [0, 1]);
  });

  it('counts a request without a key as a unit of its own, every time', () => {
    const t = new KeyTracker(1024);
    const rec = new KeyRecorder('shop', t);
    for (let i = 0; i < 3; i++) rec.record(undefined, 'stable', 500, 0.2);
    const s = t.stats('stable');
    assert.deepEqual([s.seen, s.failed, keysAbove(s.slow, [0.1])[0]], [3, 3, 3]);
    assert.equal(t.tracking().tracked, 0);
  });

  it('counts a key once, not again, when its quick requests stay at the lowest level', () => {
    const t = new KeyTracker(1024);
    for (let i = 0; i < 5; i++) t.add(hash('fast'), 'stable', false, NO_LEVEL);
    assert.equal(t.stats('stable').seen, 1);
  });

  it('gives, for any threshold, the keys whose first request above it each version served (brute force)', () => {
    const next = rng(7);
    const versions: Version[] = ['stable', 'canary', 'baseline'];
    const t = new KeyTracker(1 << 16);
    const requests: { key: string; version: Version; seconds: number }[] = [];
    for (let i = 0; i < 20_000; i++) {
      const key = `k${Math.floor(next() * 2000)}`;
      const version = versions[Math.floor(next() * 3)]!;
      // Log-uniform from 1 ms to 10 s, and now and then below the sketch's 1 µs floor.
      const seconds = next() < 0.02 ? 1e-7 : 10 ** (-3 + 4 * next());
      requests.push({ key, version, seconds });
      t.add(hash(key), version, false, keyLevel(seconds));
    }
    const thresholds = Array.from({ length: 40 }, () => 10 ** (-3.5 + 5 * next())).sort((a, b) => a - b);
    for (const v of versions) {
      const expected = thresholds.map((th) => {
        const first = new Map<string, Version>();
        for (const r of requests)
          if (keyLevel(r.seconds) > keyLevel(th) && !first.has(r.key)) first.set(r.key, r.version);
        return [...first.values()].filter((x) => x === v).length;
      });
      assert.deepEqual(keysAbove(t.stats(v).slow, thresholds), expected, v);
    }
  });

  it('keeps keys independently of their split bucket when memory runs short', () => {
    const t = new KeyTracker(4096);
    const splitSeed = murmur3('shop');
    const isCanary = (key: string) => bucketOf(key, splitSeed) < 5000;
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const key = `user-${i}`;
      t.add(hash(key), isCanary(key) ? 'canary' : 'stable', false, NO_LEVEL);
    }
    // Every key fails once now: only those still in the sample can count.
    const total = { canary: 0, stable: 0 };
    for (let i = 0; i < n; i++) {
      const key = `user-${i}`;
      const v = isCanary(key) ? 'canary' : 'stable';
      total[v]++;
      t.add(hash(key), v, true, NO_LEVEL);
    }
    const { sampling } = t.tracking();
    assert.ok(sampling < 0.1, `sampling ${sampling}`);
    const kept = { canary: t.stats('canary').failed / total.canary, stable: t.stats('stable').failed / total.stable };
    // About 1,500 keys kept on each side: the two shares agree within a few percent of each other.
    assert.ok(Math.abs(kept.canary - kept.stable) < 0.15 * sampling, JSON.stringify({ kept, sampling }));
    for (const share of Object.values(kept)) assert.ok(Math.abs(share - sampling) < 0.15 * sampling);
  });

  it('holds its memory at the bound past capacity, and never counts a dropped or kept key twice', () => {
    const t = new KeyTracker(1024);
    const bytes = t.tracking().bytes;
    for (let i = 0; i < 50_000; i++) t.add(hash(`user-${i}`), 'stable', false, NO_LEVEL);
    const after = t.tracking();
    assert.equal(after.bytes, bytes);
    assert.ok(after.tracked <= 0.7 * 1024 && after.tracked > 0.25 * 1024, `tracked ${after.tracked}`);
    assert.ok(after.sampling < 1);
    const seen = t.stats('stable').seen;
    for (let i = 0; i < 50_000; i++) t.add(hash(`user-${i}`), 'canary', false, NO_LEVEL);
    assert.equal(t.stats('stable').seen, seen);
    assert.equal(t.stats('canary').seen, 0);
  });

  it('grows with the users there are, up to its capacity, and keeps counting each once', () => {
    const t = new KeyTracker(1 << 20);
    const small = t.tracking().bytes;
    for (let i = 0; i < 200_000; i++) t.add(hash(`user-${i}`), 'stable', false, NO_LEVEL);
    const grown = t.tracking();
    assert.ok(grown.bytes > small && grown.bytes <= 6 * (1 << 20) + 50_000, `${small} → ${grown.bytes}`);
    assert.equal(grown.sampling, 1);
    for (let i = 0; i < 200_000; i++) t.add(hash(`user-${i}`), 'stable', false, NO_LEVEL);
    // Two of 200,000 keys may share a hash: they are one key.
    assert.ok(t.stats('stable').seen >= 199_990 && t.stats('stable').seen === grown.tracked);
  });

  it('starts empty in a new epoch on reset', () => {
    const t = new KeyTracker(1024);
    for (let i = 0; i < 5000; i++) t.add(hash(`user-${i}`), 'canary', true, keyLevel(0.3));
    assert.ok(t.tracking().sampling < 1);
    const id = t.tracking().id;
    t.reset();
    assert.deepEqual(t.stats('canary'), { seen: 0, failed: 0, slow: [] });
    // The same tracker in a new epoch: its id stays (only a new tracker, a restart, changes it).
    assert.deepEqual({ ...t.tracking(), bytes: 0 }, { epoch: 1, id, tracked: 0, sampling: 1, bytes: 0 });
    t.add(hash('user-1'), 'canary', true, keyLevel(0.3));
    assert.deepEqual([t.stats('canary').seen, t.stats('canary').failed], [1, 1]);
  });

  it("reaches the primary's tracker from a worker's batches as if recorded there", () => {
    const [direct, primary] = [new KeyTracker(1024), new KeyTracker(1024)];
    const batcher = new KeyBatcher((batch) => replayBatch(batch, primary));
    const next = rng(3);
    const versions: Version[] = ['stable', 'canary', 'baseline'];
    for (let i = 0; i < 40_000; i++) {
      const h = next() < 0.1 ? undefined : hash(`k${Math.floor(next() * 500)}`);
      const args = [h, versions[i % 3]!, next() < 0.05, keyLevel(next() < 0.01 ? 0 : 10 ** (-4 + 5 * next()))] as const;
      direct.add(...args);
      batcher.add(...args);
    }
    batcher.flush();
    batcher.stop();
    for (const v of versions) assert.deepEqual(primary.stats(v), direct.stats(v), v);
  });

  it('starts afresh when a release begins and when it ends, not between its steps', () => {
    const table = (canary: number, match: RoutingTable['match'] = []) =>
      ({ weights: { canary, baseline: 0 }, match }) as unknown as RoutingTable;
    const routed = table(0, [{ version: 'canary' }] as unknown as RoutingTable['match']);
    // Ends: a promotion or a rollback sends everyone to stable.
    assert.equal(startsFresh(table(25), table(0)), true);
    // Begins: users served on stable between releases must not be spent in the new one.
    assert.equal(startsFresh(table(0), table(5)), true);
    assert.equal(startsFresh(table(0), routed), true);
    // Steps of one release keep every user's history.
    assert.equal(startsFresh(table(5), table(25)), false);
    assert.equal(startsFresh(routed, table(5)), false);
    assert.equal(startsFresh(undefined, table(5)), false);
  });
});
