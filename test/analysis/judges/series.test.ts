import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { classifyMetric, JUDGE_PARAMS } from '../../../src/analysis/judges/kayenta/classify.js';
import { judgeSeries, type SeriesMetricSettings, type Worse } from '../../../src/analysis/judges/series/judge.js';
import { ar1Factor, estimateNoise } from '../../../src/analysis/judges/series/noise.js';
import { binomialUpper, studentQuantileUpper, studentUpper } from '../../../src/analysis/stats/tails.js';
import { metricSettings } from '../../../src/config/schemas/kayenta.js';
import { seriesRates } from '../../../src/simulate/series.js';
import { seriesOf } from '../../../src/analysis/judging/judge.js';
import { Random } from '../../../src/analysis/stats/random.js';

interface KnownMiss {
  name: string;
  source: string;
  canary: (number | null)[];
  control: (number | null)[];
  worse: Worse;
  nanStrategy: 'remove' | 'replace';
  kayenta: string;
  series: string;
}

const misses = JSON.parse(
  readFileSync(new URL('../../fixtures/series/known-misses.json', import.meta.url), 'utf8'),
) as KnownMiss[];
const nan = (v: (number | null)[]) => v.map((x) => (x === null ? NaN : x));
const settings = (over: Partial<SeriesMetricSettings> = {}): SeriesMetricSettings => ({
  worse: 'increase',
  missing: 'skip',
  minPoints: 10,
  ...over,
});

// Each row: the data a Kayenta user reported (test/fixtures/series/README.md), Kayenta's verdict
// from kanari's exact port of its classifier, and the series judge's at α = 0.05.
describe("the series judge on Kayenta's known misses", () => {
  it('holds every case of the fixture', () => assert.equal(misses.length, 7));
  for (const c of misses)
    it(`${c.name} (${c.source}): Kayenta ${c.kayenta}, series ${c.series}`, () => {
      const kayenta = classifyMetric(
        c.name,
        nan(c.control),
        nan(c.canary),
        metricSettings({ direction: c.worse, nanStrategy: c.nanStrategy }),
        JUDGE_PARAMS,
      );
      assert.equal(kayenta.classification, c.kayenta);
      const missing = c.nanStrategy === 'replace' ? 'zero' : 'skip';
      const series = judgeSeries(nan(c.canary), nan(c.control), settings({ worse: c.worse, missing }), 0.05);
      assert.equal(series.verdict, c.series, series.reason);
      if (series.verdict === 'Fail') assert.match(series.reason, /\d+\.\d% confidence/);
    });

  it('states the confidence of the headline case exactly: 7 of 7 steps on one side is p = 1/128', () => {
    const r = judgeSeries(nan(misses[0]!.canary), nan(misses[0]!.control), settings(), 0.05);
    assert.equal(r.test, 'steps');
    assert.ok(Math.abs(r.p! - 1 / 128) < 1e-15);
    assert.match(r.reason, /99\.2% confidence/);
  });
});

describe('tails', () => {
  // Student's t critical values from any t table (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2).
  for (const [t, df, p] of [
    [2.132, 4, 0.05],
    [1.833, 9, 0.05],
    [2.821, 9, 0.01],
    [6.314, 1, 0.05],
  ] as const)
    it(`P(T > ${t}; df ${df}) = ${p}`, () => assert.ok(Math.abs(studentUpper(t, df) - p) < 2e-4));
  it('inverts the tail', () => assert.ok(Math.abs(studentQuantileUpper(0.05, 4) - 2.132) < 1e-3));
  it('is symmetric', () => assert.ok(Math.abs(studentUpper(-1.5, 7) - (1 - studentUpper(1.5, 7))) < 1e-12));
  it('sums binomial tails exactly', () => {
    assert.ok(Math.abs(binomialUpper(7, 7, 0.5) - 1 / 128) < 1e-15);
    assert.ok(Math.abs(binomialUpper(3, 10, 0.5) - 968 / 1024) < 1e-12);
    assert.equal(binomialUpper(0, 5, 0.3), 1);
  });
});

describe('the noise of an autocorrelated control', () => {
  it('has the AR(1) variance factor: 1 for independent points, about (1+φ)/(1−φ) on long series', () => {
    assert.equal(ar1Factor(0, 50), 1);
    assert.ok(Math.abs(ar1Factor(0.5, 10_000) - 3) < 0.01);
  });
  it('takes a series that never moves as flat', () => assert.equal(estimateNoise([2, 2, 2, 2]), 'flat'));
  it('refuses to scale by a series too autocorrelated for its length', () =>
    assert.equal(estimateNoise([1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9]), 'tooCorrelated'));
});

describe('Inconclusive, never Pass by default', () => {
  it('with fewer points than minPoints', () => {
    const r = judgeSeries([5, 6, 7], [1, 1, 2], settings(), 0.05);
    assert.equal(r.verdict, 'Inconclusive');
    assert.match(r.reason, /fewer than the 10/);
  });
  it('when the interval is wider than the margin', () => {
    const control = [1, 9, 2, 8, 3, 7, 4, 6, 5, 5];
    const r = judgeSeries([2, 8, 3, 9, 4, 6, 5, 7, 5, 6], control, settings({ tolerance: 0.1 }), 0.05);
    assert.equal(r.verdict, 'Inconclusive');
  });
  it('passes only when the difference is shown inside the tolerance', () => {
    const control = [10, 10.2, 9.9, 10.1, 9.8, 10.2, 10, 9.9, 10.1, 10, 10.1, 9.9];
    const r = judgeSeries([...control].reverse(), control, settings({ tolerance: 0.5 }), 0.05);
    assert.equal(r.verdict, 'Pass', r.reason);
  });
  it('fails a lower level when worse is a decrease, and not when it is an increase', () => {
    const control = [10, 10.2, 9.9, 10.1, 9.8, 10.2, 10, 9.9, 10.1, 10, 10.1, 9.9];
    const canary = control.map((v) => v - 3);
    assert.equal(judgeSeries(canary, control, settings({ worse: 'decrease' }), 0.05).verdict, 'Fail');
    assert.notEqual(judgeSeries(canary, control, settings({ worse: 'increase' }), 0.05).verdict, 'Fail');
  });
});

// A/A on AR(1) series, fixed seed, a few hundred pairs so it runs in seconds; the 1,000-pair
// table in docs/analysis.md comes from bench/series/aa.ts. The bound allows the sampling error
// of 300 pairs (3 standard errors above α = 0.05 is 0.088).
describe('A/A false failures on autocorrelated series stay at or under α', () => {
  for (const phi of [0, 0.5, 0.9])
    for (const points of [10, 30])
      it(`φ = ${phi}, ${points} points`, () => {
        const r = seriesRates({ points, phi, shift: 0, pairs: 300, seed: 14, alpha: 0.05 }, { tolerance: 0 });
        assert.ok(r.Fail <= 0.088, `false failures ${r.Fail}`);
      });
  it('φ = 0.5, 30 points, a canary three times as noisy as control', () => {
    const trial = { points: 30, phi: 0.5, shift: 0, canaryNoise: 3, pairs: 300, seed: 16, alpha: 0.05 };
    const r = seriesRates(trial, { tolerance: 0 });
    assert.ok(r.Fail <= 0.088, `false failures ${r.Fail}`);
  });
  it('and still fails a shift of two standard deviations on 30 independent points', () => {
    const r = seriesRates({ points: 30, phi: 0, shift: 2, pairs: 200, seed: 15, alpha: 0.05 }, { tolerance: 0 });
    assert.ok(r.Fail >= 0.9, `caught ${r.Fail}`);
  });
});

describe('series from any provider', () => {
  it('reads a web answer that is an array of numbers as the series, null as a missing point', () => {
    assert.deepEqual(seriesOf({ kind: 'value', value: [1, null, 3] }), [1, NaN, 3]);
    assert.deepEqual(seriesOf({ kind: 'value', value: 2 }), [2]);
    assert.deepEqual(seriesOf({ kind: 'value', value: ['a', 1] }), []);
    assert.deepEqual(seriesOf({ kind: 'empty', message: 'nothing' }), []);
  });
});

// Sparse errors land on the side with more traffic: a canary at 90% shows errors on more
// steps than its 10% control under A/A, so steps cannot be held to ½ each.
describe('the step test with a canary carrying most of the traffic', () => {
  it('fails few A/A canaries on sparse errors when told the canary share', () => {
    const random = new Random(21);
    const share = 0.9;
    let failed = 0;
    const pairs = 400;
    for (let i = 0; i < pairs; i++) {
      // About one error per step in all, split by traffic; rates per 1,000 requests of the whole.
      const canary = Array.from({ length: 10 }, () => random.poisson(share) / (1000 * share));
      const control = Array.from({ length: 10 }, () => random.poisson(1 - share) / (1000 * (1 - share)));
      const s = settings({ canaryShares: [share, share] });
      if (judgeSeries(canary, control, s, 0.05).verdict === 'Fail') failed++;
    }
    assert.ok(failed / pairs <= 0.088, `false failures ${failed / pairs}`);
  });
});
