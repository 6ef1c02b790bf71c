import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SequentialJudge, type SequentialSettings } from '../../../src/analysis/judges/sequential/judge.js';
import type { ComparisonWindow, VersionWindow } from '../../../src/analysis/judges/sequential/window.js';
import { Random } from '../../../src/analysis/stats/random.js';

const ERRORS_ONLY = (alpha: number, unit: 'users' | 'requests' | 'auto' = 'auto'): SequentialSettings => ({
  alpha,
  unit,
  metrics: [{ name: 'errors', kind: 'errors' }],
  srm: false,
  promotion: { minRequests: 0 },
});

/** A judge counting users on one latency metric with these quantiles. */
const latencyJudge = (quantiles: number[]) =>
  new SequentialJudge({
    alpha: 0.05,
    unit: 'users',
    metrics: [{ name: 'latency', kind: 'latency', quantiles }],
    srm: false,
    promotion: { minRequests: 0 },
  });

/** A version's window: requests and errors, and (when `users` is given) its keys' first events. */
function side(
  requests: number,
  errors: number,
  users?: { seen: number; failed: number; slow?: number },
): VersionWindow {
  return {
    requests,
    errors,
    latency: { countAbove: (ts) => ts.map(() => 0), quantile: () => 0.05 },
    ...(users
      ? { keys: { seen: users.seen, failed: users.failed, slowAbove: (ts) => ts.map(() => users.slow ?? 0) } }
      : {}),
  };
}

/** Canary buckets grow from the bottom: a key in bucket b is on the canary while b < weight. */
const WEIGHTS = [5, 25, 50];
const STEP_SECONDS = 600;
const weightAt = (second: number) => WEIGHTS[Math.min(WEIGHTS.length - 1, Math.floor(second / STEP_SECONDS))]! * 100;

interface Population {
  rate: Float64Array;
  errorRate: Float64Array;
}

/**
 * Heavy-tailed users (Pareto rates), most with a small error rate of their own and a few
 * bots that send a lot and fail a lot — all identical on both versions (A/A).
 */
function population(random: Random, users: number): Population {
  const rate = new Float64Array(users);
  const errorRate = new Float64Array(users);
  for (let k = 0; k < users; k++) {
    rate[k] = 0.02 * Math.pow(random.uniform(), -1 / 1.2);
    errorRate[k] = random.uniform() < 0.1 ? 0.05 : 0.001;
  }
  for (let k = 0; k < 3; k++) {
    rate[k] = 30;
    errorRate[k] = 0.2;
  }
  return { rate, errorRate };
}

/**
 * One A/A rollout over 5 → 25 → 50%: each user's first request and first error at an
 * exponential time (its own rate), on the version its bucket is on at that moment.
 */
function aaWindows(seed: number, users = 4000): ComparisonWindow[] {
  const random = new Random(seed);
  const pop = population(random, users);
  const seconds = WEIGHTS.length * STEP_SECONDS;
  const windows = Array.from({ length: seconds }, () => ({ canary: [0, 0], control: [0, 0] }));
  for (let k = 0; k < users; k++) {
    const bucket = Math.floor(random.uniform() * 10_000);
    const seen = -Math.log(random.uniform()) / pop.rate[k]!;
    const failed = -Math.log(random.uniform()) / (pop.rate[k]! * pop.errorRate[k]!);
    for (const [t, i] of [
      [seen, 0],
      [failed, 1],
    ] as const) {
      if (t >= seconds) continue;
      const s = Math.floor(t);
      windows[s]![bucket < weightAt(s) ? 'canary' : 'control'][i]!++;
    }
  }
  return windows.map((w, s) => ({
    canary: side(0, 0, { seen: w.canary[0]!, failed: w.canary[1]! }),
    control: side(0, 0, { seen: w.control[0]!, failed: w.control[1]! }),
    keyShare: weightAt(s) / 10_000,
  }));
}

describe('sequential judge, users as the unit', () => {
  it('decides the unit at the first window: users where the windows carry keys, else requests', () => {
    const a = new SequentialJudge(ERRORS_ONLY(0.05));
    a.observe({
      canary: side(10, 0, { seen: 3, failed: 0 }),
      control: side(90, 0, { seen: 20, failed: 0 }),
      keyShare: 0.1,
    });
    assert.equal(a.countedUnit, 'users');
    const b = new SequentialJudge(ERRORS_ONLY(0.05));
    b.observe({ canary: side(10, 0), control: side(90, 0) });
    assert.equal(b.countedUnit, 'requests');
    const c = new SequentialJudge(ERRORS_ONLY(0.05, 'requests'));
    c.observe({ canary: side(10, 0, { seen: 3, failed: 0 }), control: side(90, 0, { seen: 20, failed: 0 }) });
    assert.equal(c.countedUnit, 'requests');
  });

  it('a heavy client failing on the canary is one failing user, where the request count rolls back', () => {
    // A/A at 5%: one client pinned to a canary bucket sends 50 req/s with 15% errors for 20 s.
    const feed = (judge: SequentialJudge) => {
      for (let s = 0; s < 120; s++) {
        const burst = s >= 30 && s < 50;
        judge.observe({
          canary: side(50 + (burst ? 50 : 0), burst ? 8 : 0, {
            seen: s === 0 ? 3 : 2,
            failed: burst && s === 30 ? 1 : 0,
          }),
          control: side(950, 2, { seen: 40, failed: 2 }),
          keyShare: 0.05,
          expectedShare: 0.05,
        });
      }
      return judge.verdict(true);
    };
    assert.equal(feed(new SequentialJudge(ERRORS_ONLY(0.05, 'requests'))), 'Failed');
    const users = new SequentialJudge(ERRORS_ONLY(0.05));
    assert.notEqual(feed(users), 'Failed', users.report().reason);
  });

  it('holds a new failing user to the configured share, not the share of requests heavy users distort', () => {
    // The canary serves 5% of users but, with a heavy user, 30% of requests: at the request share, 3 of 10 failing users would look fine.
    const judge = new SequentialJudge(ERRORS_ONLY(0.05));
    for (let s = 0; s < 60; s++)
      judge.observe({
        canary: side(300, 0, { seen: 5, failed: s % 2 }),
        control: side(700, 0, { seen: 95, failed: 2 }),
        keyShare: 0.05,
      });
    assert.equal(judge.verdict(), 'Failed', judge.report().reason);
    assert.match(judge.report().reason, /of its users met an error/);
  });

  it('a window served by two splits adds nothing', () => {
    const judge = new SequentialJudge(ERRORS_ONLY(0.05));
    for (let s = 0; s < 200; s++)
      judge.observe({ canary: side(50, 0, { seen: 5, failed: 3 }), control: side(950, 0, { seen: 95, failed: 0 }) });
    assert.equal(judge.verdict(), 'Running');
    assert.equal(judge.report().metrics[0]!.eValue, 1);
  });

  for (const alpha of [0.05, 0.2, 0.5])
    it(`keeps false rollbacks under α = ${alpha} on clustered A/A traffic (heavy-tailed users, bots, weight steps)`, () => {
      const runs = 100;
      let failed = 0;
      for (let seed = 1; seed <= runs; seed++) {
        const judge = new SequentialJudge(ERRORS_ONLY(alpha));
        for (const w of aaWindows(seed)) {
          judge.observe(w);
          if (judge.verdict() === 'Failed') break;
        }
        if (judge.verdict() === 'Failed') failed++;
      }
      // A valid test stays under α; the margin covers 100 runs' binomial noise (3 sd). docs/analysis.md has 1,000 runs.
      const limit = alpha + 3 * Math.sqrt((alpha * (1 - alpha)) / runs);
      assert.ok(failed / runs <= limit, `${failed}/${runs} false rollbacks at α = ${alpha}`);
    });

  it('catches an error regression spread across many users', () => {
    const random = new Random(7);
    const judge = new SequentialJudge(ERRORS_ONLY(0.05));
    let second = 0;
    // 5% of 200 new users a second on the canary; 1% of control users fail, 5% of canary users.
    for (; second < 600 && judge.verdict() !== 'Failed'; second++) {
      const [cs, xs] = [random.poisson(10), random.poisson(190)];
      judge.observe({
        canary: side(cs, 0, { seen: cs, failed: random.binomial(cs, 0.05) }),
        control: side(xs, 0, { seen: xs, failed: random.binomial(xs, 0.01) }),
        keyShare: 0.05,
      });
    }
    assert.equal(judge.verdict(), 'Failed');
    assert.ok(second < 300, `caught after ${second} s`);
  });

  it('fixes a latency threshold from both versions pooled, then judges every window against it, those it learned from too', () => {
    const judge = latencyJudge([0.5]);
    const pooledAsked: number[] = [];
    const latency = (median: number): VersionWindow['latency'] => ({
      countAbove: (ts) => ts.map(() => 0),
      quantile: () => median,
      pooledQuantile: (other, q) => {
        pooledAsked.push(q);
        return (median + other.quantile(q)) / 2;
      },
    });
    const asked: number[][] = [];
    const keys = (slow: number) => ({
      seen: 10,
      failed: 0,
      slowAbove: (ts: readonly number[]) => (asked.push([...ts]), ts.map(() => slow)),
    });
    for (let s = 0; s < 20; s++)
      judge.observe({
        canary: { requests: 100, errors: 0, latency: latency(0.1), keys: keys(5) },
        control: { requests: 100, errors: 0, latency: latency(0.05), keys: keys(5) },
        keyShare: 0.5,
      });
    // 1,000 pooled requests fix the threshold: 5 windows of 200 learn it; then those 5 and the other 15 are judged against it.
    assert.equal(pooledAsked.length, 5);
    assert.equal(asked.length, 2 * 20);
    assert.equal(judge.report().metrics[0]!.parts[0]!.canary.events, 5 * 20);
    const fixed = asked[0]![0]!;
    assert.ok(Math.abs(fixed - 0.075) < 1e-9, `threshold ${fixed}`);
    assert.ok(asked.every((ts) => ts[0] === fixed));
    const back = SequentialJudge.from(JSON.parse(JSON.stringify(judge.toJSON())));
    back.observe({
      canary: { requests: 100, errors: 0, latency: latency(0.5), keys: keys(5) },
      control: { requests: 100, errors: 0, latency: latency(0.5), keys: keys(5) },
      keyShare: 0.5,
    });
    assert.equal(asked.at(-1)![0], fixed, 'a restored judge keeps the fixed threshold');
    assert.equal(back.countedUnit, 'users');
  });

  it('a judge restored while a threshold learns judges against it the windows since the restore', () => {
    const latency: VersionWindow['latency'] = {
      countAbove: (ts) => ts.map(() => 0),
      quantile: () => 0.05,
      pooledQuantile: () => 0.05,
    };
    const asked: number[] = [];
    const window = () => {
      const keys = { seen: 10, failed: 0, slowAbove: (ts: readonly number[]) => (asked.push(...ts), ts.map(() => 1)) };
      return {
        canary: { requests: 100, errors: 0, latency, keys },
        control: { requests: 100, errors: 0, latency, keys },
        keyShare: 0.5,
      };
    };
    const judge = latencyJudge([0.5]);
    for (let s = 0; s < 3; s++) judge.observe(window());
    // The windows kept for the replay are not saved: of the 5 that learn the threshold, the 2 after the restore are judged.
    const back = SequentialJudge.from(JSON.parse(JSON.stringify(judge.toJSON())));
    for (let s = 3; s < 20; s++) back.observe(window());
    assert.equal(asked.length, 2 * 17);
    assert.equal(back.report().metrics[0]!.parts[0]!.canary.events, 17);
  });

  it('waits for minUsers canary users before passing', () => {
    const judge = new SequentialJudge({ ...ERRORS_ONLY(0.05), promotion: { minRequests: 0, minUsers: 30 } });
    judge.observe({
      canary: side(100, 0, { seen: 20, failed: 0 }),
      control: side(900, 0, { seen: 180, failed: 0 }),
      keyShare: 0.1,
    });
    assert.equal(judge.verdict(true), 'Inconclusive');
    assert.match(judge.report(true).reason, /20 of 30 canary users/);
    judge.observe({
      canary: side(100, 0, { seen: 10, failed: 0 }),
      control: side(900, 0, { seen: 90, failed: 0 }),
      keyShare: 0.1,
    });
    assert.equal(judge.verdict(true), 'Successful');
  });

  it('guards the split with first-seen users against the configured share', () => {
    const judge = new SequentialJudge({ ...ERRORS_ONLY(0.05), srm: { tolerance: 0.3, alpha: 0.001 } });
    for (let s = 0; s < 120; s++)
      judge.observe({
        canary: side(100, 0, { seen: 20, failed: 0 }),
        control: side(900, 0, { seen: 80, failed: 0 }),
        keyShare: 0.05,
      });
    const r = judge.report();
    assert.equal(r.verdict, 'Inconclusive');
    assert.equal(r.srm?.unit, 'users');
    assert.match(r.reason, /of users where 5\.00% was configured/);
  });

  it("the router's assignment decides what auto counts, whatever the first window carries", () => {
    const judge = new SequentialJudge(ERRORS_ONLY(0.05));
    judge.observe({ canary: side(10, 0), control: side(90, 0), assignment: 'key' });
    assert.equal(judge.countedUnit, 'users');
    const perRequest = new SequentialJudge(ERRORS_ONLY(0.05));
    perRequest.observe({
      canary: side(10, 0, { seen: 1, failed: 0 }),
      control: side(90, 0, { seen: 9, failed: 0 }),
      assignment: 'request',
    });
    assert.equal(perRequest.countedUnit, 'requests');
  });

  it('a run saved before users were counted goes on counting requests', () => {
    const judge = new SequentialJudge(ERRORS_ONLY(0.05));
    judge.observe({ canary: side(10, 0), control: side(90, 0) });
    const saved = judge.toJSON() as unknown as Record<string, unknown>;
    delete saved.unit;
    const back = SequentialJudge.from(saved as never);
    back.observe({
      canary: side(10, 0, { seen: 1, failed: 0 }),
      control: side(90, 0, { seen: 9, failed: 0 }),
      keyShare: 0.1,
    });
    assert.equal(back.countedUnit, 'requests');
  });

  it('stops taking evidence when the user counts start again, and says so', () => {
    const judge = new SequentialJudge(ERRORS_ONLY(0.05));
    const w = () => ({
      canary: side(10, 0, { seen: 1, failed: 1 }),
      control: side(90, 0, { seen: 9, failed: 1 }),
      keyShare: 0.1,
    });
    judge.observe(w());
    judge.observe({ ...w(), usersRestarted: true });
    for (let i = 0; i < 50; i++) judge.observe(w());
    const r = judge.report(true);
    assert.equal(r.verdict, 'Inconclusive');
    assert.match(r.reason, /user counts started again/);
    const back = SequentialJudge.from(JSON.parse(JSON.stringify(judge.toJSON())));
    assert.equal(back.verdict(true), 'Inconclusive');
  });

  it('tests each latency quantile alone when counting users: the largest e-value over their number', () => {
    const judge = latencyJudge([0.5, 0.9, 0.99]);
    const latency: VersionWindow['latency'] = {
      countAbove: (ts) => ts.map(() => 0),
      quantile: () => 0.05,
      pooledQuantile: () => 0.05,
    };
    // Only the p50 part sees canary users above it: 4 of 5 newly slow users at a 10% share.
    for (let s = 0; s < 30; s++)
      judge.observe({
        canary: {
          requests: 500,
          errors: 0,
          latency,
          keys: { seen: 5, failed: 0, slowAbove: (ts) => ts.map((_, i) => (i === 0 && s >= 20 ? 4 : 0)) },
        },
        control: {
          requests: 4500,
          errors: 0,
          latency,
          keys: { seen: 45, failed: 0, slowAbove: (ts) => ts.map((_, i) => (i === 0 && s >= 20 ? 1 : 0)) },
        },
        keyShare: 0.1,
      });
    const m = judge.report().metrics[0]!;
    const largest = Math.max(...m.parts.map((p) => p.eValue));
    assert.ok(Math.abs(m.eValue - largest / 3) < 1e-9 * largest, `${m.eValue} vs ${largest}/3`);
  });

  it('never shows "no worse than" counting users', () => {
    const judge = new SequentialJudge({ ...ERRORS_ONLY(0.05), promotion: { minRequests: 0, noWorseThan: 1.5 } });
    for (let s = 0; s < 300; s++)
      judge.observe({
        canary: side(100, 0, { seen: 10, failed: 1 }),
        control: side(900, 0, { seen: 90, failed: 9 }),
        keyShare: 0.1,
      });
    assert.equal(judge.verdict(true), 'Inconclusive');
  });

  it('a run restarted before it decided its unit decides it at the next window with traffic', () => {
    const judge = new SequentialJudge(ERRORS_ONLY(0.05));
    judge.observe({ canary: side(0, 0), control: side(0, 0) });
    const back = SequentialJudge.from(JSON.parse(JSON.stringify(judge.toJSON())));
    back.observe({
      canary: side(10, 0, { seen: 1, failed: 0 }),
      control: side(90, 0, { seen: 9, failed: 0 }),
      keyShare: 0.1,
    });
    assert.equal(back.countedUnit, 'users');
  });

  it('a restart of the counts before any user could add evidence (a release beginning) changes nothing', () => {
    const judge = new SequentialJudge(ERRORS_ONLY(0.05));
    // Before the canary has weight: stable's users are seen, but no share to hold them to.
    judge.observe({
      canary: side(0, 0, { seen: 0, failed: 0 }),
      control: side(100, 0, { seen: 50, failed: 1 }),
      keyShare: 0,
    });
    judge.observe({
      canary: side(5, 0, { seen: 5, failed: 0 }),
      control: side(95, 0, { seen: 95, failed: 0 }),
      keyShare: 0.05,
      usersRestarted: true,
    });
    assert.equal(judge.verdict(true), 'Successful', judge.report(true).reason);
  });

  it('learns no per-user latency threshold from a source that cannot pool both versions', () => {
    const judge = latencyJudge([0.5]);
    const asked: number[] = [];
    const latency: VersionWindow['latency'] = { countAbove: (ts) => ts.map(() => 0), quantile: () => 0.05 };
    const keys = { seen: 10, failed: 0, slowAbove: (ts: readonly number[]) => (asked.push(...ts), ts.map(() => 5)) };
    for (let s = 0; s < 50; s++)
      judge.observe({
        canary: { requests: 500, errors: 0, latency, keys },
        control: { requests: 500, errors: 0, latency, keys },
        keyShare: 0.5,
      });
    // Control's own quantile would depend on which users control has: nothing is learned, nothing judged.
    assert.deepEqual(asked, []);
    assert.equal(judge.report().metrics[0]!.parts[0]!.threshold, undefined);
  });
});
