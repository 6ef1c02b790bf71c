/**
 * What the per-user latency evidence divides: users newly slow on a version over the users
 * it was exposed to. Driven through the router's own key tracker and the builtin provider's
 * windows, so the counts are the ones a real rollout reports.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SequentialJudge } from '../../../src/analysis/judges/sequential/judge.js';
import { VersionTotals } from '../../../src/analysis/providers/builtin.js';
import { KeyTracker } from '../../../src/router/keys.js';
import { combineKeyStats, keyLevel, type KeyStats } from '../../../src/shared/key-stats.js';
import { LatencySketch } from '../../../src/shared/sketch.js';

type Side = 'canary' | 'stable';

/** One second of traffic: each user (a key hash) sends one request of `seconds` to its side. */
interface Second {
  users: { hash: number; side: Side; seconds: number }[];
}

/** The judge's windows for these seconds, as the builtin provider builds them from the tracker's cumulative counts. */
function judged(seconds: Second[]): SequentialJudge {
  const judge = new SequentialJudge({
    alpha: 0.05,
    unit: 'users',
    metrics: [{ name: 'latency', kind: 'latency', quantiles: [0.5] }],
    srm: false,
    promotion: { minRequests: 0 },
  });
  const tracker = new KeyTracker(1 << 12);
  const before: Record<Side, KeyStats> = { canary: tracker.stats('canary'), stable: tracker.stats('stable') };
  for (const second of seconds) {
    const sketches = { canary: new LatencySketch(), stable: new LatencySketch() };
    for (const u of second.users) {
      tracker.add(u.hash, u.side, false, keyLevel(u.seconds));
      sketches[u.side].add(u.seconds);
    }
    const window = (side: Side) => {
      const now = tracker.stats(side);
      const totals = new VersionTotals();
      const requests = sketches[side].count;
      totals.add({
        requests: { '1xx': 0, '2xx': requests, '3xx': 0, '4xx': 0, '5xx': 0 },
        latency: sketches[side].toJSON(),
        keys: combineKeyStats(now, before[side], -1),
      });
      before[side] = now;
      return totals.toWindow();
    };
    judge.observe({ canary: window('canary'), control: window('stable'), keyShare: 0.5 });
  }
  return judge;
}

describe('per-user latency evidence', () => {
  it('never counts more slow users on a version than users it saw: users first seen while the threshold was learned count too', () => {
    // 100 users, half on each side, send 25 fast requests each (2,500 pooled): the p50 threshold is fixed after 1,000.
    const everyone = Array.from({ length: 100 }, (_, i) => ({
      hash: i + 1,
      side: (i % 2 ? 'canary' : 'stable') as Side,
    }));
    const seconds: Second[] = [];
    for (let s = 0; s < 25; s++) seconds.push({ users: everyone.map((u) => ({ ...u, seconds: 0.05 })) });
    // Then the canary turns slow; five new users arrive on each side.
    const late = Array.from({ length: 10 }, (_, i) => ({
      hash: 1000 + i,
      side: (i % 2 ? 'canary' : 'stable') as Side,
    }));
    for (let s = 0; s < 10; s++)
      seconds.push({
        users: [...everyone, ...late].map((u) => ({ ...u, seconds: u.side === 'canary' ? 0.3 : 0.05 })),
      });
    const part = judged(seconds).report().metrics[0]!.parts[0]!;
    assert.equal(part.canary.events, 55, 'every canary user became slower than the threshold once');
    assert.equal(part.control.events, 0);
    assert.ok(
      part.canary.events <= part.canary.requests,
      `canary ${part.canary.events}/${part.canary.requests} slow users of users seen`,
    );
    assert.equal(part.canary.requests, 55);
    assert.equal(part.control.requests, 55);
    assert.ok(part.canary.rate <= 1, `rate ${part.canary.rate}`);
  });
});
