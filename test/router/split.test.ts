import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { murmur3, murmur3Bytes } from '../../src/router/hash.js';
import { BUCKETS, bucketOf, toBuckets, versionForBucket } from '../../src/router/split.js';

describe('murmur3 (x86, 32-bit)', () => {
  // Reference values from the canonical SMHasher implementation (MurmurHash3_x86_32).
  const vectors: [string, number, number][] = [
    ['', 0, 0],
    ['', 1, 0x514e28b7],
    ['a', 0, 0x3c2569b2],
    ['abc', 0, 0xb3dd93fa],
    ['Hello, world!', 0, 0xc0363e43],
    ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
  ];
  for (const [key, seed, want] of vectors) {
    it(`hashes ${JSON.stringify(key)} with seed ${seed}`, () => assert.equal(murmur3(key, seed), want));
  }

  it('hashes a string as its UTF-8 bytes, whether read in place (ASCII) or encoded', () => {
    const chars = 'aZ09-_.~ é€😀\u007f\u0080';
    let s = 1;
    const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
    for (let n = 0; n < 2000; n++) {
      const key = Array.from({ length: next() % 24 }, () => chars[next() % chars.length]).join('');
      const seed = next();
      assert.equal(murmur3(key, seed), murmur3Bytes(Buffer.from(key, 'utf8'), seed), JSON.stringify(key));
    }
  });
});

describe('split', () => {
  it('maps buckets to versions: canary from the bottom, baseline from the top', () => {
    const w = toBuckets({ canary: 5, baseline: 5 });
    assert.deepEqual(w, { canary: 500, baseline: 500 });
    assert.equal(versionForBucket(0, w), 'canary');
    assert.equal(versionForBucket(499, w), 'canary');
    assert.equal(versionForBucket(500, w), 'stable');
    assert.equal(versionForBucket(9499, w), 'stable');
    assert.equal(versionForBucket(9500, w), 'baseline');
    assert.equal(versionForBucket(BUCKETS - 1, toBuckets({ canary: 100, baseline: 0 })), 'canary');
    assert.equal(versionForBucket(0, toBuckets({ canary: 0.01, baseline: 0 })), 'canary');
    assert.equal(versionForBucket(1, toBuckets({ canary: 0.01, baseline: 0 })), 'stable');
  });

  it('keeps everyone already on the canary there while its weight grows, and nobody while it is 0', () => {
    const users = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);
    const seed = murmur3('checkout');
    let previous = new Set<string>();
    for (const weight of [0, 1, 5, 25, 50, 100]) {
      const w = toBuckets({ canary: weight, baseline: 0 });
      const on = new Set(users.filter((u) => versionForBucket(bucketOf(u, seed), w) === 'canary'));
      for (const u of previous) assert.ok(on.has(u), `${u} left the canary when its weight grew to ${weight}`);
      previous = on;
    }
    assert.equal(previous.size, users.length);
  });

  it('splits distinct users within binomial bounds of the weight', () => {
    const seed = murmur3('checkout');
    const n = 200_000;
    for (const weight of [1, 5, 50]) {
      const w = toBuckets({ canary: weight, baseline: 0 });
      let canary = 0;
      for (let i = 0; i < n; i++) if (versionForBucket(bucketOf(`u${i}`, seed), w) === 'canary') canary++;
      const p = weight / 100;
      const sd = Math.sqrt(n * p * (1 - p));
      // 4.5 standard deviations: a correct hash fails this about once in 150,000 runs.
      assert.ok(Math.abs(canary - n * p) < 4.5 * sd, `weight ${weight}%: ${canary} of ${n} on canary`);
    }
  });
});
