// bench/grid: the sequential judge on counts from several scrape targets, aligned windows
// against the grid the Prometheus source cuts (harness.ts). Prints, per scenario and scrape
// interval, the share of runs rolled back (Failed) and paused (Inconclusive, the split
// guard), with a 95% interval, and the median time to a rollback.
//
//   npm run bench:grid [-- --runs 500 --scenarios 0,1 --scrapes 1,5,15 --widths 1,2]
import { parseArgs } from 'node:util';
import { cellName, DEFAULT_PLAN, runOnce, scenarios, type Cut, type Outcome } from './harness.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '500' },
    scenarios: { type: 'string', default: '0,1,2,3,4' },
    scrapes: { type: 'string', default: '1,5,15' },
    widths: { type: 'string', default: '1' },
    steady: { type: 'string', default: '' },
    seed: { type: 'string', default: '1' },
    'skip-mixed': { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const list = (s: string) => s.split(',').filter(Boolean).map(Number);
const scrapes = list(values.scrapes);
const cuts: Cut[] = [
  { kind: 'aligned' },
  ...list(values.widths).map((width) => ({ kind: 'grid' as const, width })),
  ...(values.steady ? list(values.steady).map((width) => ({ kind: 'grid' as const, width, steady: true })) : []),
];

const percent = (k: number) => {
  const p = k / runs;
  const half = 1.96 * Math.sqrt((p * (1 - p)) / runs);
  return `${(100 * p).toFixed(1)}% ±${(100 * half).toFixed(1)}`;
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? '–' : `${Math.round(s[Math.floor(s.length / 2)]!)} s`;
};

console.log('| scenario | cut | rolled back | paused (split guard) | median time to rollback |');
console.log('|---|---|---|---|---|');
for (const which of list(values.scenarios)) {
  const started = performance.now();
  const cells = new Map<string, Outcome[]>();
  let name = '';
  for (let i = 0; i < runs; i++) {
    // The golden ratio spreads each run's bursts and diurnal phase evenly.
    const scenario = scenarios((i * 0.6180339887) % 1)[which]!;
    name = scenario.name;
    for (const [cell, outcome] of runOnce(
      scenario,
      DEFAULT_PLAN,
      scrapes,
      cuts,
      Number(values.seed) * 1e6 + i,
      values['skip-mixed'],
    ))
      cells.set(cell, [...(cells.get(cell) ?? []), outcome]);
  }
  for (const scrape of scrapes)
    for (const cut of cuts) {
      const outcomes = cells.get(cellName(scrape, cut))!;
      const failed = outcomes.filter((o) => o.verdict === 'Failed');
      const paused = outcomes.filter((o) => o.verdict === 'Inconclusive').length;
      console.log(
        `| ${name} | ${cellName(scrape, cut)} | ${percent(failed.length)} | ${percent(paused)} | ${median(failed.map((o) => o.at!))} |`,
      );
    }
  console.error(`${name}: ${runs} runs in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}
