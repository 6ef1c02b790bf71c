import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyByMean, classifyMetric } from '../../../src/analysis/judges/kayenta/classify.js';
import { metricSettings, type Direction } from '../../../src/config/schemas/kayenta.js';
import { handleNaNs, iqrOutliers, kSigmaOutliers, removeFlagged } from '../../../src/analysis/judges/kayenta/clean.js';
import { cles, cohenD, meanRatio } from '../../../src/analysis/judges/kayenta/effect.js';
import {
  brentSolve,
  lowerZ,
  mannWhitneyInterval,
  wilcoxonDiff,
} from '../../../src/analysis/judges/kayenta/mannwhitney.js';
import { aggregateIntervals, weightedSumScore } from '../../../src/analysis/judges/kayenta/score.js';
import { percentileR7, summarize } from '../../../src/analysis/stats/describe.js';
import { dataset as data, KAYENTA, ORCA, oracle } from '../../fixtures/kayenta/oracle.js';

function near(got: number, want: number, tol: number, what: string) {
  assert.ok(Math.abs(got - want) <= tol, `${what}: got ${got}, want ${want} ± ${tol}`);
}

// The rows below are generated from the fixture, so a truncated fixture would pass quietly.
describe('the Kayenta oracle fixture (test/fixtures/kayenta/README.md)', () => {
  it('holds every numeric case of the suites it transcribes', () => {
    const counts = Object.fromEntries(
      ['classifierCases', 'mannWhitneyCases', 'statisticCases', 'detectorCases', 'transformCases', 'scorerCases'].map(
        (k) => [k, oracle[k].length],
      ),
    );
    assert.deepEqual(counts, {
      classifierCases: 37,
      mannWhitneyCases: 7,
      statisticCases: 18,
      detectorCases: 6,
      transformCases: 6,
      scorerCases: 13,
    });
    assert.equal(Object.keys(oracle.datasets).length, 46);
    assert.equal(oracle.aggregationCases.kayentaStandalone_getAggregatedJudgment.rows.length, 5);
    assert.equal(oracle.aggregationCases.orcaAggregateCanaryResultsTask.rows.length, 18);
  });
});

describe(`Kayenta judge conformance: ${KAYENTA} kayenta-judge ClassifierSuite.scala`, () => {
  for (const c of oracle.classifierCases) {
    it(`${c.id} ${c.name}`, () => {
      const experiment = data(c.experiment);
      const control = data(c.control);
      if (c.classifier === 'MeanInequalityClassifier') {
        assert.equal(classifyByMean(control, experiment, c.call.direction as Direction), c.expect.classification);
        return;
      }
      const [allowedDecrease, allowedIncrease] = c.params.effectSizeThresholds;
      const [criticalDecrease, criticalIncrease] = c.params.criticalThresholds;
      const settings = metricSettings({
        direction: c.call.direction,
        nanStrategy: c.call.nanStrategy,
        critical: c.call.isCriticalMetric,
        mustHaveData: c.call.isDataRequired,
        effectSize: {
          measure: c.params.effectSizeMeasure,
          allowedIncrease,
          allowedDecrease,
          criticalIncrease,
          criticalDecrease,
        },
      });
      const got = classifyMetric(c.metricName, control, experiment, settings, {
        tolerance: c.params.tolerance,
        confLevel: c.params.confLevel,
      });
      if (c.expect.classification) assert.equal(got.classification, c.expect.classification);
      if ('critical' in c.expect) assert.equal(got.critical, c.expect.critical);
      if ('deviation' in c.expect)
        assert.ok(
          Object.is(got.deviation, c.expect.deviation) || got.deviation === c.expect.deviation,
          `deviation ${got.deviation}`,
        );
      if (c.expect.reasonNonEmpty || c.id === 'C27') assert.ok(got.reason && got.reason.length > 0);
      // The independent port's finer numbers (not Kayenta assertions) pin the interval itself,
      // except where both samples are constant and Kayenta adds random noise (C29, C30).
      const port = c.portComputed;
      const constant = (xs: number[]) => new Set(xs).size === 1;
      if (port?.ciLower !== undefined && got.interval && !(constant(experiment) && constant(control))) {
        near(got.interval.lower, port.ciLower, 1e-9, 'CI lower');
        near(got.interval.upper, port.ciUpper, 1e-9, 'CI upper');
        near(got.interval.estimate, port.hlEstimate, 1e-9, 'estimate');
      }
    });
  }
});

describe(`Kayenta judge conformance: ${KAYENTA} kayenta-mannwhitney MannWhitneySuite.scala`, () => {
  const cases = new Map<string, any>(oracle.mannWhitneyCases.map((c: any) => [c.id, c]));
  it('MW01 wilcoxonDiff on the 850-point problem data', () => {
    const c = cases.get('MW01');
    near(wilcoxonDiff(0, 0, data('D32'), data('D33')), c.checks[0].expected, c.checks[0].tol, 'mu=0');
    near(wilcoxonDiff(5, 0, data('D32'), data('D33')), c.checks[1].expected, c.checks[1].tol, 'mu=5');
  });
  it("MW02 the z quantile is commons-math's", () => {
    assert.equal(lowerZ(0.98), -2.326347874040841);
    assert.equal(lowerZ(0.95), -1.959963984540054);
    near(lowerZ(0.9), -1.6448536269514722, 1e-15, 'AS241 at 0.90');
  });
  for (const id of ['MW03', 'MW04', 'MW05', 'MW06']) {
    it(`${id} ${cases.get(id).name}`, () => {
      const c = cases.get(id);
      const got = mannWhitneyInterval(data(c.x), data(c.y), c.confidenceLevel);
      near(got.lower, c.expected.ciLower, c.tolerance.ciLower, 'ciLower');
      near(got.upper, c.expected.ciUpper, c.tolerance.ciUpper, 'ciUpper');
      near(got.estimate, c.expected.estimate, c.tolerance.estimate, 'estimate');
      near(got.lower, c.port.ciLower, 1e-12, 'ciLower vs port');
      near(got.estimate, c.port.estimate, 1e-12, 'estimate vs port');
    });
  }
  it('MW07 intermediate values, including a lower bound above the upper one', () => {
    const c = cases.get('MW07');
    const [x, y] = [data(c.x), data(c.y)];
    const e = c.expected;
    const muMin = Math.min(...x) - Math.max(...y);
    const muMax = Math.max(...x) - Math.min(...y);
    near(muMin, e.muMin, 1e-6, 'muMin');
    near(muMax, e.muMax, 1e-6, 'muMax');
    const z = -lowerZ(0.95);
    near(wilcoxonDiff(muMin, z, x, y), e.fLower1, 1e-6, 'fLower1');
    near(wilcoxonDiff(muMax, z, x, y), e.fUpper1, 1e-6, 'fUpper1');
    near(wilcoxonDiff(muMin, -z, x, y), e.fLower2, 1e-6, 'fLower2');
    near(wilcoxonDiff(muMax, -z, x, y), e.fUpper2, 1e-6, 'fUpper2');
    const f = (q: number) => (mu: number) => wilcoxonDiff(mu, q, x, y);
    near(brentSolve(muMin, muMax, e.fLower1, e.fUpper1, f(z)), e.ciLower, 1e-6, 'ciLower');
    near(brentSolve(muMin, muMax, e.fLower2, e.fUpper2, f(-z)), e.ciUpper, 1e-6, 'ciUpper');
    near(brentSolve(muMin, muMax, f(0)(muMin), f(0)(muMax), f(0)), e.estimate, 1e-6, 'estimate');
  });
});

describe(`Kayenta judge conformance: ${KAYENTA} kayenta-judge StatisticSuite.scala`, () => {
  for (const c of oracle.statisticCases) {
    it(c.name, () => {
      const input: number[] = c.input ?? (c.inputDataset ? data(c.inputDataset) : undefined);
      const exp: number[] = c.experiment ?? (c.experimentDataset ? data(c.experimentDataset) : undefined);
      const ctl: number[] = c.control ?? (c.controlDataset ? data(c.controlDataset) : undefined);
      const fn: string = c.fn;
      const want = c.expected;
      if (fn === 'summary') {
        const s = summarize(input);
        assert.equal(s.min, want.min);
        assert.equal(s.max, want.max);
        assert.equal(s.mean, want.mean);
        assert.equal(s.count, want.count);
        near(s.std, want.std, want.stdTol ?? 0, 'std');
      } else if (fn.startsWith('percentile')) {
        for (const [key, value] of Object.entries(want)) {
          if (key.endsWith('Tol')) continue;
          near(percentileR7(input, Number(key.slice(1))), value as number, (want[`${key}Tol`] as number) ?? 1e-12, key);
        }
      } else if (fn.startsWith('meanRatio')) {
        const got = meanRatio(ctl, exp);
        if (Number.isNaN(want)) assert.ok(Number.isNaN(got));
        else near(got, want, 1e-12, 'meanRatio');
      } else if (fn.startsWith('cohenD')) near(cohenD(ctl, exp), want, c.tol, 'cohenD');
      else if (fn.startsWith('cles')) near(cles(ctl, exp), want, c.tol ?? 1e-12, 'cles');
      else assert.fail(`unhandled statistic ${fn}`);
    });
  }
});

describe(`Kayenta judge conformance: ${KAYENTA} kayenta-judge DetectorSuite.scala and TransformSuite.scala`, () => {
  for (const c of oracle.detectorCases) {
    it(c.name, () => {
      const [, kind, arg] = /^(\w+)\((.*)\)$/.exec(c.detector)!;
      const number = (key: string) => Number(new RegExp(`${key}=([\\d.]+)`).exec(arg!)![1]);
      const flags =
        kind === 'KSigmaDetector'
          ? kSigmaOutliers(c.data, number('k'))
          : iqrOutliers(c.data, number('factor'), /reduceSensitivity=true/.test(arg!));
      // One row states its flags in words: "all false except the last element".
      const want = Array.isArray(c.expectedOutlierFlags)
        ? c.expectedOutlierFlags
        : c.data.map((_: number, i: number) => i === c.data.length - 1);
      assert.deepEqual(flags, want);
    });
  }
  for (const c of oracle.transformCases.filter((t: any) => Array.isArray(t.expected))) {
    it(c.name, () => {
      const fn: string = c.fn;
      const got =
        fn === 'removeNaNs'
          ? handleNaNs(c.data, 'remove')
          : fn.startsWith('replaceNaNs')
            ? handleNaNs(c.data, 'replace')
            : fn.includes('KSigma')
              ? removeFlagged(c.data, kSigmaOutliers(c.data, 3))
              : removeFlagged(c.data, iqrOutliers(c.data, 1.5));
      assert.deepEqual(got, c.expected);
    });
  }
});

describe(`Kayenta judge conformance: ${KAYENTA} ScorerSuite.scala, and interval aggregation`, () => {
  for (const c of oracle.scorerCases) {
    it(c.name, () => {
      const results = c.results.map((r: any) => ({
        name: r.name,
        classification: r.classification,
        groups: r.groups,
        critical: r.critical ?? false,
        muted: false,
      }));
      const got = weightedSumScore(results, c.groupWeights);
      assert.equal(got.score, c.expectedSummaryScore);
      if (c.expectedSortedGroupScores)
        assert.deepEqual(
          got.groups.map((g) => g.score).sort((a, b) => a - b),
          c.expectedSortedGroupScores,
        );
      if (c.expectedGroupScores)
        for (const [g, s] of Object.entries(c.expectedGroupScores))
          assert.equal(got.groups.find((x) => x.name === g)?.score, s);
    });
  }
  it(`${KAYENTA} GenerateCanaryAnalysisResultTaskTest.java getAggregatedJudgment rows`, () => {
    for (const [final, marginal, pass, expected] of oracle.aggregationCases.kayentaStandalone_getAggregatedJudgment
      .rows) {
      const got = aggregateIntervals([final], {
        ...(marginal === null ? {} : { marginal }),
        ...(pass === null ? {} : { pass }),
      });
      assert.equal(got.passed, expected, `${final} ${marginal} ${pass}`);
    }
  });
  it(`${ORCA} AggregateCanaryResultsTaskTest.kt rows, one stage and two`, () => {
    const agg = oracle.aggregationCases.orcaAggregateCanaryResultsTask;
    for (const [scores, thresholds, expected] of agg.rows)
      assert.equal(
        aggregateIntervals(scores, thresholds).passed,
        expected === 'SUCCEEDED',
        JSON.stringify([scores, thresholds]),
      );
    for (const [a, b, ea, eb] of agg['twoStageRows(thresholds {pass: 60.5})']) {
      assert.equal(aggregateIntervals(a, { pass: 60.5 }).passed, ea === 'SUCCEEDED');
      assert.equal(aggregateIntervals(b, { pass: 60.5 }).passed, eb === 'SUCCEEDED');
    }
  });
  it('a marginal interval fails the canary even when the last one passes', () => {
    assert.deepEqual(aggregateIntervals([80, 40, 99], { pass: 95, marginal: 50 }), {
      passed: false,
      reason: 'Canary score of interval 2 40 is not above the marginal score threshold.',
    });
  });
});
