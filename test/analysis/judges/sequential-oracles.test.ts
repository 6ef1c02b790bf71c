import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  dirichletLogBayesFactor,
  oneSidedBetaLogE,
  sequentialPValue,
} from '../../../src/analysis/judges/sequential/closed-form.js';
import { RatioMixture } from '../../../src/analysis/judges/sequential/ratio-mixture.js';
import { lnBeta, logAddExp } from '../../../src/analysis/stats/special.js';

const rel = (got: number, want: number, tol: number, what: string) =>
  assert.ok(Math.abs(got - want) <= tol * Math.abs(want), `${what}: got ${got}, want ${want} (rel ${tol})`);

// Where each row comes from; every number is recomputed, with its source's own formula, by
// test/fixtures/sequential/reference-values.py (numpy 2.4.6, scipy 1.17.1).
// Lindon & Malek, "Anytime-Valid Inference for Multinomial Count Data", NeurIPS 2022, arXiv 2011.03567.
const PAPER = 'Lindon & Malek 2022';
// assuncaolfi/savvi at de1d0d2, version 0.3.1 in its pyproject.toml (MIT).
const SAVVI = 'savvi 0.3.1';
// NPodlozhniy/seqabpy at ebbd572, tag v0.3.2 (Apache-2.0).
const SEQABPY = 'seqabpy 0.3.2 tests/test_gavi.py';

describe('sequential count test: reference values', () => {
  // Two-sided Dirichlet-multinomial Bayes factor, k = 100, counts = [control, canary], ρ = (control, canary).
  const twoSidedSource = `${PAPER} closed form, as ${SAVVI} Multinomial.update_odds computes it`;
  const twoSided: [number, number, number, number, number][] = [
    [0.5, 0.5, 10, 10, -0.0915774275],
    [0.5, 0.5, 10, 30, 1.2748794875],
    [0.5, 0.5, 100, 140, 1.7517293605],
    [0.5, 0.5, 1000, 1100, 0.7266374314],
    [0.5, 0.5, 95, 15, 15.3362828022],
    [0.95, 0.05, 10, 10, 4.5901389567],
    [0.95, 0.05, 95, 5, -0.3549096475],
    [0.95, 0.05, 95, 15, 2.9357765774],
    [0.95, 0.05, 950, 80, 5.1777591476],
  ];
  for (const [rc, rk, control, canary, logBF] of twoSided) {
    it(`log BF(${control}, ${canary}; ρ = ${rc}/${rk}) = ${logBF} (${twoSidedSource})`, () => {
      const got = dirichletLogBayesFactor([control, canary], [rc, rk], 100);
      assert.ok(Math.abs(got - logBF) < 1e-9, `got ${got}`);
    });
  }

  // savvi's example notebooks assert where their seeded streams first stop at α = 0.05; the
  // streams (np.random.seed(1), 1000 multinomial draws) are in the fixture, replayed event by event.
  const draws = JSON.parse(
    readFileSync(new URL('../../fixtures/sequential/savvi-draws.json', import.meta.url), 'utf8'),
  );
  const firstStops: { source: string; labels: string; theta0: number[]; n: number; p: number }[] = [
    {
      source: `${SAVVI} examples/InhomogeneousPoissonProcess.qmd`,
      labels: draws.inhomogeneousPoissonProcess,
      theta0: [0.8, 0.2],
      n: 210,
      p: 0.045579631759249686,
    },
    {
      source: `${SAVVI} examples/Multinomial.qmd`,
      labels: draws.multinomial,
      theta0: [0.1, 0.4, 0.5],
      n: 402,
      p: 0.04845591105969517,
    },
  ];
  for (const { source, labels, theta0, n, p } of firstStops) {
    it(`${source}: the first stop at α = 0.05 is event ${n}, p = ${p}`, () => {
      const counts = theta0.map(() => 0);
      let pValue = 1;
      let stop = 0;
      for (const [i, label] of [...labels].entries()) {
        counts[Number(label)]! += 1;
        pValue = sequentialPValue(pValue, dirichletLogBayesFactor(counts, theta0, 100));
        if (pValue <= 0.05) {
          stop = i + 1;
          break;
        }
      }
      assert.equal(stop, n);
      rel(pValue, p, 1e-11, 'p');
    });
  }

  // seqabpy's sequential_p_value: min(1, 1/BF), Dirichlet α = 100·ρ unless given.
  const seqabpy: { source: string; counts: number[]; rho: number[]; k: number; p: number }[] = [
    { source: `${SEQABPY} test_sequential_p_value`, counts: [100, 101], rho: [0.5, 0.5], k: 100, p: 1 },
    // The test asserts p < 1e-5; the value is seqabpy's own function's, term for term.
    {
      source: `${SEQABPY} test_sequential_p_value, value of seqabpy's sequential_p_value`,
      counts: [100, 201],
      rho: [0.5, 0.5],
      k: 100,
      p: 5.06061172163498e-6,
    },
    {
      source: `${SEQABPY} test_sequential_p_value_custom_dirichlet, α = [50, 50]`,
      counts: [100, 100],
      rho: [0.5, 0.5],
      k: 100,
      p: 1,
    },
    {
      source: `${SEQABPY} test_sequential_p_value_custom_dirichlet, α = [1, 1]`,
      counts: [100, 100],
      rho: [0.5, 0.5],
      k: 2,
      p: 1,
    },
    {
      source: `${SEQABPY} test_sequential_p_value_three_groups`,
      counts: [100, 100, 100],
      rho: [1 / 3, 1 / 3, 1 / 3],
      k: 100,
      p: 1,
    },
  ];
  for (const { source, counts, rho, k, p } of seqabpy) {
    it(`p(${counts}; ρ = ${rho.map((r) => r.toFixed(2))}, k = ${k}) = ${p} (${source})`, () => {
      const got = sequentialPValue(1, dirichletLogBayesFactor(counts, rho, k));
      if (p === 1) assert.equal(got, 1);
      else rel(got, p, 1e-9, 'p');
    });
  }

  // kanari's one-sided truncated-Beta e-value has no published implementation: these values
  // evaluate the same formula independently, with scipy's betaln and regularised betainc.
  const oneSided: [number, number, number, number, number][] = [
    [0.5, 10, 30, 40, 58.50758271],
    [0.5, 10, 25, 40, 2.262950613],
    [0.05, 10, 15, 100, 346.4383745],
    [0.05, 100, 15, 100, 70.77161594],
  ];
  for (const [theta0, k, y, n, e] of oneSided) {
    it(`one-sided E(θ0 = ${theta0}, k = ${k}, y = ${y}, n = ${n}) = ${e} (kanari's formula in scipy 1.17.1 betaln, betainc)`, () =>
      rel(Math.exp(oneSidedBetaLogE(y, n, theta0, k)), e, 1e-8, 'E'));
  }
});

describe('ratio mixture', () => {
  it('reproduces the closed-form one-sided e-value when its prior is that truncated Beta', () => {
    // A fine grid over ln r, weighted by the Beta(kθ0, k(1−θ0)) density of θ(r) truncated to θ > θ0:
    // the mixture of the accumulated likelihoods must converge to the closed form.
    const theta0 = 0.05;
    const k = 10;
    const h = 0.0005;
    const grid = Array.from({ length: 24001 }, (_, i) => (i - 12000) * h);
    const m = new RatioMixture([0], grid);
    // The same counts in three batches at the same share: order and batching must not matter.
    m.update(5, 30, theta0);
    m.update(0, 40, theta0);
    m.update(10, 15, theta0);
    const { logLikelihood: L, points } = m.toJSON();
    const base = L[L.length - 1]!;
    const [a, b] = [k * theta0, k * (1 - theta0)];
    let num = -Infinity;
    let mass = -Infinity;
    for (const [i, l] of grid.entries()) {
      if (l <= 0) continue;
      const theta = (theta0 * Math.exp(l)) / (theta0 * Math.exp(l) + 1 - theta0);
      const logW =
        (a - 1) * Math.log(theta) + (b - 1) * Math.log1p(-theta) - lnBeta(a, b) + Math.log(theta * (1 - theta) * h);
      num = logAddExp(num, logW + L[i]! - base);
      mass = logAddExp(mass, logW);
    }
    assert.equal(points.length, grid.length + 1);
    rel(Math.exp(num - mass), Math.exp(oneSidedBetaLogE(15, 100, theta0, k)), 2e-3, 'mixture vs closed form');
  });

  it('rejects "canary worse" on a 10× error rate, and not on equal rates, at α = 0.05', () => {
    const bad = new RatioMixture();
    const same = new RatioMixture();
    for (let s = 0; s < 60; s++) {
      bad.update(s % 2 === 0 ? 1 : 0, 1, 0.05); // canary ≈ 10× its share of errors
      same.update(s % 20 === 0 ? 1 : 0, 1, 0.05);
    }
    assert.ok(bad.logE(0, true) > Math.log(20), `bad: ${Math.exp(bad.logE(0, true))}`);
    assert.ok(same.logE(0, true) < Math.log(20), `same: ${Math.exp(same.logE(0, true))}`);
    const [lo, hi] = bad.confidenceInterval(0.05);
    assert.ok(lo > 2 && hi < 60 && lo < 10 && hi > 10, `CS [${lo}, ${hi}]`);
  });

  it('survives a round trip through JSON', () => {
    const m = new RatioMixture([0, Math.log(1.5)]);
    m.update(3, 10, 0.25, 100, 300);
    const back = RatioMixture.from(JSON.parse(JSON.stringify(m)));
    assert.equal(back.logE(Math.log(1.5), false), m.logE(Math.log(1.5), false));
    assert.deepEqual(back.toJSON(), m.toJSON());
  });
});
