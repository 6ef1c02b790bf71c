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
import { normalQuantile } from '../../../src/analysis/stats/special.js';

type Side = 'canary' | 'stable';

/** One second of traffic: each user (a key hash) sends one request of `seconds` to its side. */
interface Second {
  users: { hash: number; side: Side; seconds: number }[];
}

/**
 * The judge's windows for these seconds, as the builtin provider builds them from the
 * tracker's cumulative counts; and the first window after which it had failed.
 */
function judged(seconds: Second[], keyShare = 0.5): { judge: SequentialJudge; failedAt?: number } {
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
    judge.observe({ canary: window('canary'), control: window('stable'), keyShare });
    if (judge.verdict() === 'Failed') return { judge, failedAt: seconds.indexOf(second) };
  }
  return { judge };
}

/**
 * Users whose requests are fixed, not drawn: user i is on the canary when i is a multiple of
 * 20 (a key share of 5%), sends once every 1 + i mod 7 seconds, and its request in second s
 * takes 50 ms·e^(0.5·z), z the normal quantile of a low-discrepancy point in (0, 1) — a
 * lognormal's spread — times `slower` on the canary.
 */
function fixedUsers(slower: number, users = 1000, seconds = 60): Second[] {
  const out: Second[] = [];
  for (let s = 0; s < seconds; s++) {
    const second: Second = { users: [] };
    for (let i = 0; i < users; i++) {
      if ((s + i) % (1 + (i % 7)) !== 0) continue;
      const side: Side = i % 20 === 0 ? 'canary' : 'stable';
      const u = Math.min(0.999, Math.max(0.001, (i * 0.6180339887 + s * 0.4142135624) % 1));
      second.users.push({
        hash: i + 1,
        side,
        seconds: 0.05 * Math.exp(0.5 * normalQuantile(u)) * (side === 'canary' ? slower : 1),
      });
    }
    out.push(second);
  }
  return out;
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
    const part = judged(seconds).judge.report().metrics[0]!.parts[0]!;
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

  it('catches a canary 3× slower at p50 in the window that fixes its threshold: users first slow while it was learned count', () => {
    const seconds = fixedUsers(3);
    // The p50 threshold is fixed by the window that brings the pooled requests to 1,000.
    let [pooled, fixing] = [0, 0];
    while ((pooled += seconds[fixing]!.users.length) < 1000) fixing++;
    const { judge, failedAt } = judged(seconds, 0.05);
    const part = judge.report().metrics[0]!.parts[0]!;
    // Nothing is drawn, so the e-value's path is exact: 421 at that window, against 1/α = 20, with 47 of the 48
    // canary users seen so far slow there against 446 of 787 on control. Judged from the fix on only, the canary's
    // users had nearly all gone above the threshold while it was learned, uncounted: 3 of its 50 users ever counted
    // against 504 of control's 950, and the e-value sank to 0.002 over 60 windows.
    assert.equal(failedAt, fixing, judge.report().reason);
    assert.ok(part.canary.events / part.canary.requests > 0.9, `${part.canary.events}/${part.canary.requests}`);
  });
});
