// The series judge on synthetic AR(1) series: A/A false failures over 1,000 seeded
// canary/control pairs for φ ∈ {0, 0.5, 0.9} and 10, 30, 100 points at α = 0.05, then how
// often it catches level shifts of 0.5, 1 and 2 standard deviations. Prints the tables
// docs/analysis.md quotes, with the α each false-failure rate must stay under.
//   npm run bench:series [-- --pairs 1000]
import { parseArgs } from 'node:util';
import { ar1Series, seriesRates } from '../../dist/simulate/series.js';
import { Random } from '../../dist/analysis/stats/random.js';
import { classifyMetric, JUDGE_PARAMS } from '../../dist/analysis/judges/kayenta/classify.js';
import { metricSettings } from '../../dist/config/schemas/kayenta.js';

const { values } = parseArgs({ options: { pairs: { type: 'string', default: '1000' } } });
const pairs = Number(values.pairs);
const alpha = 0.05;
const PHIS = [0, 0.5, 0.9];
const LENGTHS = [10, 30, 100];
const pct = (x) => `${(100 * x).toFixed(1)}%`;
// Tolerance 0: fail on any shown increase, the strictest setting for A/A.
const settings = { tolerance: 0 };

const started = performance.now();
console.log(
  `A/A, ${pairs} pairs each, α = ${alpha}: false failures with tolerance 0; in brackets, passes with a tolerance of 0.5 sd\n`,
);
console.log(`| φ | ${LENGTHS.map((n) => `${n} points`).join(' | ')} |`);
console.log(`|---|${LENGTHS.map(() => '---').join('|')}|`);
for (const phi of PHIS) {
  const cells = LENGTHS.map((points, i) => {
    const trial = { points, phi, shift: 0, pairs, seed: 1000 + i, alpha };
    const strict = seriesRates(trial, settings);
    const tolerant = seriesRates(trial, { tolerance: 0.5 });
    return `**${pct(strict.Fail)}** (${pct(tolerant.Pass)})`;
  });
  console.log(`| ${phi} | ${cells.join(' | ')} |`);
}
// The peer: Kayenta's classifier (kanari's exact port, direction increase) on the same kind of
// pairs, counting High as a failure. Its Mann-Whitney interval takes the points as independent.
console.log(`\nKayenta's classifier on A/A pairs, ${pairs} each: share classified High\n`);
console.log(`| φ | ${LENGTHS.map((n) => `${n} points`).join(' | ')} |`);
console.log(`|---|${LENGTHS.map(() => '---').join('|')}|`);
const kayentaSettings = metricSettings({ direction: 'increase' });
for (const phi of PHIS) {
  const cells = LENGTHS.map((points, i) => {
    const random = new Random(1000 + i);
    let high = 0;
    for (let k = 0; k < pairs; k++) {
      // Positive levels, as metrics are: Kayenta's effect-size gate divides by control's mean.
      const control = ar1Series(random, points, phi, 10);
      const canary = ar1Series(random, points, phi, 10);
      if (classifyMetric('m', control, canary, kayentaSettings, JUDGE_PARAMS).classification === 'High') high++;
    }
    return pct(high / pairs);
  });
  console.log(`| ${phi} | ${cells.join(' | ')} |`);
}

const noisy = seriesRates({ points: 30, phi: 0.5, shift: 0, canaryNoise: 3, pairs, seed: 999, alpha }, settings);
console.log(`\nA/A with a canary 3× as noisy as control (φ = 0.5, 30 points): ${pct(noisy.Fail)} false failures`);

console.log(`\nPower: share of ${pairs} pairs failed, by shift in standard deviations of one point\n`);
const SHIFTS = [0.5, 1, 2];
console.log(`| φ | points | ${SHIFTS.map((s) => `+${s} sd`).join(' | ')} |`);
console.log(`|---|---|${SHIFTS.map(() => '---').join('|')}|`);
for (const phi of PHIS)
  for (const points of LENGTHS) {
    const cells = SHIFTS.map((shift, i) =>
      pct(seriesRates({ points, phi, shift, pairs, seed: 2000 + i, alpha }, settings).Fail),
    );
    console.log(`| ${phi} | ${points} | ${cells.join(' | ')} |`);
  }
console.log(`\n(${((performance.now() - started) / 1000).toFixed(1)} s)`);
