// 1,000 simulated 30-minute rollouts (nothing wrong, 5 → 25 → 50 → 100%, 1,000 req/s,
// every metric checked every second) under the sequential template, then under the
// Flagger-style threshold and Kayenta-style templates as peers. Prints wall time against the one-minute
// budget and how many times faster than real time the simulation runs.
//   npm run bench:simulate [-- --runs 1000]
import { parseArgs } from 'node:util';
import { loadKind } from '../../dist/config/kinds.js';
import { simulate } from '../../dist/simulate/simulate.js';
import { BUILTIN_TEMPLATES } from '../../dist/config/templates.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '1000' } } });
const runs = Number(values.runs);
const spec = loadKind(
  new URL('../../examples/simulations/nothing-wrong.yaml', import.meta.url).pathname,
  'Simulation',
).spec;

const results = {};
for (const name of ['sequential', 'threshold', 'kayenta']) {
  const started = performance.now();
  const report = await simulate(spec, [{ name, spec: BUILTIN_TEMPLATES[name] }], runs);
  const seconds = (performance.now() - started) / 1000;
  results[name] = { seconds, falseRollbacks: report.templates[0].rollbacks };
  const simulated = runs * report.seconds;
  console.log(
    `${name.padEnd(10)} ${runs} runs in ${seconds.toFixed(1)} s: ${(seconds / 60).toFixed(2)}× the one-minute budget, ` +
      `${Math.round(simulated / seconds).toLocaleString('en')}× real time, ${report.templates[0].rollbacks} false rollbacks`,
  );
}
console.log(
  `sequential / threshold wall time: ${(results.sequential.seconds / results.threshold.seconds).toFixed(2)}×; sequential / kayenta: ${(results.sequential.seconds / results.kayenta.seconds).toFixed(2)}×`,
);
