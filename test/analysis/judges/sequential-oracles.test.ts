import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dirichletLogBayesFactor, oneSidedBetaLogE, sequentialPValue } from '../../../src/analysis/judges/sequential/closed-form.js';
import { RatioMixture } from '../../../src/analysis/judges/sequential/ratio-mixture.js';
import { lnBeta, logAddExp } from '../../../src/analysis/stats/special.js';

const rel = (got: number, want: number, tol: number, what: string) =>
  assert.ok(Math.abs(got - want) <= tol * Math.abs(want), `${what}: got ${got}, want ${want} (rel ${tol})`);

describe('sequential count test: reference values of SEQUENTIAL.md §3', () => {
  // §3.2: two-sided Dirichlet/Beta mixture, k = 100, counts = [control, canary], ρ = (control, canary).
  const table: [number, number, number, number, number][] = [
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
  for (const [rc, rk, control, canary, logBF] of table) {
    it(`log BF(${control}, ${canary}; ρ = ${rc}/${rk}) = ${logBF}`, () => {
      const got = dirichletLogBayesFactor([control, canary], [rc, rk], 100);
      assert.ok(Math.abs(got - logBF) < 1e-9, `got ${got}`);
    });
  }

  // §3.1 savvi: first stops reproduced from their final cumulative counts.
  it('savvi InhomogeneousPoissonProcess stop: BF([148, 62]; θ0 = [0.8, 0.2]) = 21.939624376119', () => {
    const lbf = dirichletLogBayesFactor([148, 62], [0.8, 0.2], 100);
    rel(Math.exp(lbf), 21.939624376119, 1e-11, 'BF');
    rel(sequentialPValue(1, lbf), 0.0455796317592605, 1e-11, 'p');
  });
  it('savvi Multinomial stop: BF([40, 129, 233]; θ0 = [0.1, 0.4, 0.5]) = 20.637317060617', () => {
    const lbf = dirichletLogBayesFactor([40, 129, 233], [0.1, 0.4, 0.5], 100);
    rel(Math.exp(lbf), 20.637317060617, 1e-11, 'BF');
    rel(sequentialPValue(1, lbf), 0.0484559110596954, 1e-11, 'p');
  });

  // §3.1 seqabpy tests/test_gavi.py: instantaneous p = min(1, 1/BF), Dirichlet α = 100·ρ.
  it('seqabpy sequential_p_value cases', () => {
    assert.equal(sequentialPValue(1, dirichletLogBayesFactor([100, 101], [0.5, 0.5], 100)), 1);
    const p = sequentialPValue(1, dirichletLogBayesFactor([100, 201], [0.5, 0.5], 100));
    assert.ok(p < 1e-5);
    rel(p, 5.0606e-6, 1e-4, 'p([100, 201])');
    assert.equal(sequentialPValue(1, dirichletLogBayesFactor([100, 100], [0.5, 0.5], 100)), 1);
    assert.equal(sequentialPValue(1, dirichletLogBayesFactor([100, 100], [0.5, 0.5], 2)), 1); // dirichlet_alpha = [1, 1]
    assert.equal(sequentialPValue(1, dirichletLogBayesFactor([100, 100, 100], [1 / 3, 1 / 3, 1 / 3], 100)), 1);
  });

  // §3.2: one-sided truncated-Beta e-value.
  const oneSided: [number, number, number, number, number][] = [
    [0.5, 10, 30, 40, 58.50758271],
    [0.5, 10, 25, 40, 2.262950613],
    [0.05, 10, 15, 100, 346.4383745],
    [0.05, 100, 15, 100, 70.77161594],
  ];
  for (const [theta0, k, y, n, e] of oneSided) {
    it(`one-sided E(θ0 = ${theta0}, k = ${k}, y = ${y}, n = ${n}) = ${e}`, () => rel(Math.exp(oneSidedBetaLogE(y, n, theta0, k)), e, 1e-8, 'E'));
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
      const logW = (a - 1) * Math.log(theta) + (b - 1) * Math.log1p(-theta) - lnBeta(a, b) + Math.log(theta * (1 - theta) * h);
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
