/**
 * The simulator's users (issue 14): a population counted by rate class and bucket range, and
 * heavy clients one by one. Expected values are the Poisson-process ones each test names;
 * statistical checks use fixed seeds and margins of several standard deviations.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Random } from '../../src/analysis/stats/random.js';
import { simulationSpec } from '../../src/config/schemas/simulation.js';
import type { TrafficState } from '../../src/rollout/types.js';
import { armOf, type Arm, type BucketSplit } from '../../src/simulate/buckets.js';
import { HeavyClient } from '../../src/simulate/clients.js';
import { keyLimit } from '../../src/simulate/limits.js';
import { emptyArmKeys, hypergeometric, Population, rateClasses } from '../../src/simulate/population.js';
import { TrafficGenerator } from '../../src/simulate/scenario.js';
import { slowerThan, type MixedLatency, type VersionBehaviour } from '../../src/simulate/traffic.js';
import { errorsOf, file } from '../helpers/config.js';
import { loadKind } from '../../src/config/kinds.js';
import { BUILTIN_TEMPLATES } from '../../src/config/templates.js';
import { simulate } from '../../src/simulate/simulate.js';

const ok: VersionBehaviour = { errorRate: 0.01, latency: { median: 0.05, sigma: 0.5 } };
const same: Record<Arm, VersionBehaviour> = { canary: ok, stable: ok, baseline: ok };
const split = (canary: number, baseline = 0): BucketSplit => ({ canary: canary * 100, baseline: baseline * 100 });
const table = (canary: number): TrafficState => ({
  stable: 'v1',
  canary: 'v2',
  weights: { canary, baseline: 0 },
  routes: [],
  mirror: 0,
});
const spec = (traffic: object) => simulationSpec.parse({ traffic, steps: [{ setWeight: 5 }] });
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('rate classes', () => {
  it('share the rate among all the users, the busiest in classes of their own', () => {
    const classes = rateClasses(200_000, 1000, 1.3);
    assert.equal(sum(classes.map((c) => c.users)), 200_000);
    assert.ok(Math.abs(sum(classes.map((c) => c.users * c.rate)) - 1000) < 1e-6);
    const top = classes.at(-1)!;
    assert.ok(top.users <= 4, `top class ${top.users} users`);
    // A Pareto(1.3) tail: the top 1/131,072 of users send far more than the mean user (0.005 req/s).
    assert.ok(top.rate > 5, `top rate ${top.rate}`);
  });

  it('without a shape, every user sends alike', () => {
    assert.deepEqual(rateClasses(1000, 100), [{ rate: 0.1, users: 1000 }]);
  });
});

describe('population', () => {
  it('sees and fails as many users as a Poisson process does: N(1 − e^(−λT)) and N(1 − e^(−λpT))', () => {
    const classes = rateClasses(50_000, 100, 1.5);
    const seconds = 60;
    const expected = (p: number) => sum(classes.map((c) => c.users * -Math.expm1(-c.rate * p * seconds)));
    const pop = new Population(classes, new Random(7));
    let [seen, failed] = [0, 0];
    for (let t = 0; t < seconds; t++) {
      pop.rates(split(25), 1);
      const keys = pop.step(split(25), 1, same);
      seen += keys.canary.seen + keys.stable.seen;
      failed += keys.canary.failed + keys.stable.failed;
    }
    for (const [got, want] of [
      [seen, expected(1)],
      [failed, expected(ok.errorRate)],
    ] as const)
      assert.ok(Math.abs(got - want) < 5 * Math.sqrt(want) + 1, `got ${got}, expected ${want.toFixed(1)}`);
  });

  it('never counts a user twice, across weight steps that move users to the canary', () => {
    const pop = new Population([{ rate: 5, users: 2000 }], new Random(3));
    const totals = emptyArmKeys();
    for (const [weight, seconds] of [
      [5, 10],
      [25, 10],
      [50, 10],
    ] as const)
      for (let t = 0; t < seconds; t++) {
        pop.rates(split(weight), 1);
        const keys = pop.step(split(weight), 1, { ...same, canary: { ...ok, errorRate: 0.5 } });
        for (const arm of ['canary', 'stable'] as const) {
          totals[arm].seen += keys[arm].seen;
          totals[arm].failed += keys[arm].failed;
        }
      }
    // At 5 req/s every user is seen in the first seconds, at 5%: later steps move seen users, never re-see them.
    assert.equal(totals.canary.seen + totals.stable.seen, 2000);
    assert.ok(totals.canary.seen < 200, `seen on the canary ${totals.canary.seen}`);
    assert.ok(totals.canary.failed + totals.stable.failed <= 2000);
    // Stable fails 5 req/s × 1%, the canary half of its requests: those moved fail there unless they failed on stable
    // first, 100 + 400·e^(−0.05·10) + 500·e^(−0.05·20) in expectation.
    const want = 100 + 400 * Math.exp(-0.5) + 500 * Math.exp(-1);
    assert.ok(
      Math.abs(totals.canary.failed - want) < 50,
      `failed on the canary ${totals.canary.failed}, expected ${want}`,
    );
  });

  it('moves the rate with the users: a step to 25% gives the canary 25% of it, within sampling', () => {
    const pop = new Population(rateClasses(100_000, 1000), new Random(5));
    pop.rates(split(5), 1);
    const rates = pop.rates(split(25), 1);
    assert.ok(Math.abs(rates.canary - 250) < 10, `canary ${rates.canary}`);
    assert.ok(Math.abs(rates.canary + rates.stable - 1000) < 1e-6);
  });

  it('counts users first slower than a threshold asked late in every second since the tracker started', () => {
    const classes = [{ rate: 1, users: 20_000 }];
    const pop = new Population(classes, new Random(11));
    const threshold = 0.1; // S(0.1 s) of a lognormal with median 50 ms, σ 0.5: 8.2%
    const slow = 1 - 0.9175;
    const seconds = [];
    for (let t = 0; t < 40; t++) {
      // A step to 25% at second 10 splits the users' range: the past is drawn over the ranges as they were.
      const s = split(t < 10 ? 50 : 25);
      pop.rates(s, 1);
      seconds.push(pop.step(s, 1, same));
      if (t === 20) pop.track(threshold);
    }
    const counted = seconds.map((k) => (k.canary.slow.get(threshold) ?? 0) + (k.stable.slow.get(threshold) ?? 0));
    // Users first slow in seconds 0..19 and 20..39: N(1 − e^(−20λs)) and N(e^(−20λs) − e^(−40λs)).
    for (const [from, want] of [
      [0, 20_000 * (1 - Math.exp(-20 * slow))],
      [20, 20_000 * (Math.exp(-20 * slow) - Math.exp(-40 * slow))],
    ] as const) {
      const got = sum(counted.slice(from, from + 20));
      assert.ok(
        Math.abs(got - want) < 5 * Math.sqrt(want),
        `seconds ${from}+: got ${got}, expected ${want.toFixed(0)}`,
      );
    }
    // Each second has its own count: the fewest expected, in second 39, are about 63.
    assert.ok(
      counted.every((n) => n > 0),
      `${counted}`,
    );
  });

  it('draws hypergeometric splits with the right mean, exactly and by approximation', () => {
    const random = new Random(2);
    for (const [total, marked, n] of [
      [100, 30, 20],
      [10_000, 4_000, 3_000],
    ] as const) {
      const draws = Array.from({ length: 2000 }, () => hypergeometric(random, total, marked, n));
      const mean = sum(draws) / draws.length;
      const want = (n * marked) / total;
      const sd = Math.sqrt((want * (1 - marked / total) * (total - n)) / (total - 1) / draws.length);
      assert.ok(Math.abs(mean - want) < 5 * sd, `mean ${mean}, expected ${want}`);
      assert.ok(draws.every((x) => x >= Math.max(0, n + marked - total) && x <= Math.min(n, marked)));
    }
  });
});

describe('A/A: a newly failing user is on the canary with the probability of its buckets', () => {
  it('whatever the rates: heavy-tailed users, heavy clients and bursts, across weight steps (chi-square)', () => {
    const traffic = {
      rate: 500,
      users: { count: 20_000, shape: 1.2 },
      clients: [
        { rate: 20, errorRate: 0.3 },
        { rate: 2, errorRate: 0.5, active: { every: '20s', for: '10s' } },
      ],
      bursts: { every: '15s', duration: '5s', rate: 50, errorRate: 0.2 },
    };
    let [canary, expected, all] = [0, 0, 0];
    for (let seed = 1; seed <= 150; seed++) {
      const generator = new TrafficGenerator(spec(traffic), new Random(seed));
      for (let t = 0; t < 60; t++) {
        const weight = t < 20 ? 5 : t < 40 ? 25 : 50;
        const s = generator.second(t, table(weight), ok, ok);
        const failed = s.canary.keys!.failed + s.stable.keys!.failed;
        canary += s.canary.keys!.failed;
        expected += failed * s.shares!.keys;
        all += failed;
      }
    }
    // One degree of freedom: canary against control, each expected by the key share of its second.
    const chi2 = (canary - expected) ** 2 / expected + (canary - expected) ** 2 / (all - expected);
    assert.ok(all > 20_000, `${all} failing keys`);
    assert.ok(
      chi2 < 10.83,
      `chi² ${chi2.toFixed(2)} (p < 0.001 above 10.83): ${canary} on the canary, ${expected.toFixed(0)} expected`,
    );
  });
});

describe('heavy clients', () => {
  const keysOf = () => emptyArmKeys();

  it('send only while active: `for` out of every `every`, from the offset', () => {
    const client = HeavyClient.of(
      { rate: 10, bucket: 'random', active: { every: 60_000, for: 20_000, offset: 30_000 } },
      new Random(1),
    );
    const active: number[] = [];
    for (let t = 0; t < 200; t++) if (client.second(t, split(5), same, keysOf())) active.push(t);
    const expected = [...range(30, 50), ...range(90, 110), ...range(150, 170)];
    assert.deepEqual(active, expected);
  });

  it('is one key: seen and failed once, on the version of its bucket, even when a step moves it', () => {
    const client = HeavyClient.of({ rate: 5, errorRate: 0.5, bucket: 1000 }, new Random(4));
    const totals = keysOf();
    const arms: Arm[] = [];
    for (let t = 0; t < 40; t++) {
      const keys = keysOf();
      const s = split(t < 20 ? 5 : 25);
      arms.push(client.second(t, s, same, keys)!.arm);
      for (const arm of ['canary', 'stable'] as const) {
        totals[arm].seen += keys[arm].seen;
        totals[arm].failed += keys[arm].failed;
      }
    }
    assert.equal(arms[0], 'stable');
    assert.equal(arms[39], 'canary');
    assert.equal(armOf(1000, split(25)), 'canary');
    assert.deepEqual(
      [totals.stable.seen, totals.stable.failed, totals.canary.seen, totals.canary.failed],
      [1, 1, 0, 0],
    );
  });

  it('bursts: a new key each time, or the same one recurring', () => {
    const seenBy = (client: 'new' | 'same') => {
      const burst = HeavyClient.burst({ every: 60_000, duration: 10_000, rate: 20, client }, new Random(9));
      let seen = 0;
      for (let t = 0; t < 400; t++) {
        const keys = keysOf();
        burst.second(t, split(50), same, keys);
        seen += keys.canary.seen + keys.stable.seen;
      }
      return seen;
    };
    assert.equal(seenBy('new'), 6);
    assert.equal(seenBy('same'), 1);
  });

  it("bursts: each new client counts as slow once, for a threshold tracked before it came, and the past ones' when asked late", () => {
    // Every request takes about 1 s: slower than 100 ms but for a chance of Φ(−ln 10/0.5) = 2·10⁻⁶ a request.
    const slowOk: VersionBehaviour = { errorRate: 0, latency: { median: 1, sigma: 0.5 } };
    const slowAll: Record<Arm, VersionBehaviour> = { canary: slowOk, stable: slowOk, baseline: slowOk };
    const slowKeys = (trackAt: number) => {
      const burst = HeavyClient.burst({ every: 60_000, duration: 10_000, rate: 20 }, new Random(9));
      const seconds = [];
      for (let t = 0; t < 400; t++) {
        const keys = keysOf();
        burst.second(t, split(50), slowAll, keys);
        seconds.push(keys);
        if (t === trackAt) burst.track(0.1);
      }
      return sum(seconds.map((k) => (k.canary.slow.get(0.1) ?? 0) + (k.stable.slow.get(0.1) ?? 0)));
    };
    // Six bursts (seconds 60, 120, … 360), each a new key.
    assert.equal(slowKeys(61), 6);
    assert.equal(slowKeys(399), 6);
  });
});

describe('a client with its own latency', () => {
  it("mixes into its version's latency by requests, and is one slow key by its own latency", () => {
    const traffic = { rate: 1000, clients: [{ rate: 200, latency: { median: '500ms' }, bucket: 9000 }] };
    const generator = new TrafficGenerator(spec(traffic), new Random(3));
    let [above, expected, slowKeys] = [0, 0, 0];
    for (let t = 0; t < 20; t++) {
      const s = generator.second(t, table(5), ok, ok);
      const latency = s.stable.latency as MixedLatency;
      assert.deepEqual(
        latency.parts.map((p) => p.median),
        [0.05, 0.5],
      );
      above += latency.countAbove([0.3])[0]!;
      expected += sum(latency.parts.map((p) => p.requests * slowerThan(0.3, p)));
      const median = latency.quantile(0.5);
      assert.ok(median > 0.05 && median < 0.5, `median ${median}`);
      slowKeys += s.stable.keys!.slowAbove([3])[0]!;
    }
    assert.ok(expected > 1000, `expected ${expected}`);
    assert.ok(Math.abs(above - expected) < 5 * Math.sqrt(expected), `above 300 ms: ${above}, expected ${expected}`);
    assert.ok(slowKeys <= 1, 'one client is one key, however slow');
  });
});

describe('keys when each request is its own user', () => {
  it('are the requests: seen = requests, failed = errors, slow keys = slow requests', () => {
    const generator = new TrafficGenerator(spec({ rate: 1000 }), new Random(1));
    const s = generator.second(0, table(10), ok, ok);
    for (const w of [s.canary, s.stable]) {
      assert.equal(w.keys!.seen, w.requests);
      assert.equal(w.keys!.failed, w.errors);
      assert.deepEqual(w.keys!.slowAbove([0.05, 0.2]), w.latency!.countAbove([0.05, 0.2]));
    }
  });

  it('leave out requests sent by a header route', () => {
    const generator = new TrafficGenerator(spec({ rate: 1000, matching: 0.2 }), new Random(1));
    const routes = [{ header: 'x-canary', value: 'always' }] as unknown as TrafficState['routes'];
    const s = generator.second(0, { ...table(0), routes }, ok, ok);
    assert.ok(s.canary.requests > 150, `canary requests ${s.canary.requests}`);
    assert.equal(s.canary.keys!.seen, 0);
  });
});

describe('the key-based limit', () => {
  it('needs ln(1/α)/ln(1/π) failing keys on the canary, and says when the carriers are too few', () => {
    const one = keyLimit({ alpha: 0.05, keyShare: 0.05, carriers: [{ onCanary: 1, failures: 0.5 }] })!;
    assert.ok(Math.abs(one.keys - 1) < 1e-9);
    assert.ok(Math.abs(one.seconds! - Infinity) > 0 && one.seconds! > 1, `seconds ${one.seconds}`);
    const strict = keyLimit({ alpha: 0.001, keyShare: 0.25, carriers: [{ onCanary: 1, failures: 1 }] })!;
    assert.ok(Math.abs(strict.keys - Math.log(1000) / Math.log(4)) < 1e-9);
    assert.equal(strict.seconds, undefined, 'one carrier cannot be 5 failing keys');
  });
});

describe('a regression a few keys carry', () => {
  it('is a regression: rollbacks are catches, timed from the first request a carrier sends the canary, beside the key limit', async () => {
    const spec = loadKind('examples/simulations/few-keys-regression.yaml', 'Simulation').spec;
    const r = await simulate(spec, [{ name: 'sequential', spec: BUILTIN_TEMPLATES.sequential! }], 3);
    assert.equal(r.canaryIsWorse, true);
    assert.equal(r.onset, 0);
    assert.equal(r.limit, undefined, 'no request-level limit: the canary treats everyone else as stable does');
    assert.ok(Math.abs(r.keyLimit!.keys - 1) < 1e-9, 'at a 5% key share one failing key can carry 1/α = 20');
    assert.equal(r.keyLimit!.carriers, 3);
    // Three carriers pinned in the canary's buckets, failing 0.5/s each: one is expected to have failed when 3(1 − e^(−t/2)) = 1.
    assert.ok(Math.abs(r.keyLimit!.seconds! - 2 * Math.log(1.5)) < 0.001, `seconds ${r.keyLimit!.seconds}`);
  });
});

describe('schema', () => {
  const doc = (traffic: string) =>
    `apiVersion: kanari.dev/v1alpha1\nkind: Simulation\nmetadata: { name: x }\nspec:\n  steps: [{ setWeight: 5 }]\n  traffic:\n${traffic}`;
  const CASES: [string, string, RegExp][] = [
    ['a bucket past 9999', '    clients: [{ rate: 1, bucket: 10000 }]\n', /spec\.traffic\.clients\[0\]\.bucket/],
    [
      'active longer than its period',
      '    clients: [{ rate: 1, active: { every: 1m, for: 2m } }]\n',
      /spec\.traffic\.clients\[0\]\.active\.for: must be active at most `every`/,
    ],
    [
      'a Pareto shape of 1',
      '    users: { count: 10, shape: 1 }\n',
      /spec\.traffic\.users\.shape: must be greater than 1/,
    ],
    ['no users', '    users: { count: 0 }\n', /spec\.traffic\.users\.count: must be at least 1 user/],
    [
      'a burst client neither new nor same',
      '    bursts: { every: 1m, duration: 1s, rate: 1, client: old }\n',
      /spec\.traffic\.bursts\.client/,
    ],
  ];
  for (const [what, traffic, error] of CASES)
    it(`refuses ${what} at its line`, () => {
      assert.match(errorsOf(file(doc(traffic))).join('\n'), new RegExp(`^F:\\d+:\\d+ ${error.source}`, 'm'));
    });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}
