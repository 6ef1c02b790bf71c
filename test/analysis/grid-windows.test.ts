/**
 * The sequential judge on counts from several scrape targets (bench/grid/harness.ts): each
 * request assigned on its own, 3 canary and 6 stable pods scraped every 15 s at their own
 * offsets, the real judge with the default template. Seeded, so each rate is one fixed
 * number; the bounds leave room for changes to the judge. `npm run bench:grid` measures
 * every cell with 500 runs (docs/analysis.md, "Several scrape targets").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runOnce, scenarios, type Cut, type Plan } from '../../bench/grid/harness.js';

const PLAN: Plan = { steps: [{ weight: 0.2, seconds: 600 }], pods: { canary: 3, stable: 6 } };
const RUNS = 100;
const CUTS: Cut[] = [{ kind: 'aligned' }, { kind: 'grid', width: 1 }, { kind: 'grid', width: 1, steady: true }];
const CELLS = ['S=15s aligned', 'S=15s grid×1', 'S=15s grid×1 steady'] as const;

/** How many of RUNS runs of scenario `which` (bursts every minute) each cut rolled back. */
function rollbacks(which: number): Record<(typeof CELLS)[number], number> {
  const n = { 'S=15s aligned': 0, 'S=15s grid×1': 0, 'S=15s grid×1 steady': 0 };
  for (let i = 0; i < RUNS; i++) {
    const scenario = scenarios((i * 0.6180339887) % 1, 60)[which]!;
    const outcomes = runOnce(scenario, PLAN, [15], CUTS, 7000 + i);
    for (const cell of CELLS) if (outcomes.get(cell)!.verdict === 'Failed') n[cell]++;
  }
  return n;
}

describe('the sequential judge on grid windows from several scrape targets', () => {
  it('keeps false rollbacks near α when a shared burst of errors lands at a window edge', () => {
    const n = rollbacks(1);
    // The bare grid puts a burst on one version's side of an edge for a window: what the joining undoes.
    assert.ok(n['S=15s grid×1'] >= RUNS * 0.2, JSON.stringify(n));
    // Joined where the error rate jumps, as the source now cuts, it is as honest as aligned scrapes.
    assert.ok(n['S=15s grid×1 steady'] <= RUNS * 0.1, JSON.stringify(n));
    assert.ok(n['S=15s aligned'] <= RUNS * 0.1, JSON.stringify(n));
  });

  it('still rolls back a canary with 10× the errors', () => {
    const n = rollbacks(4);
    assert.ok(n['S=15s grid×1 steady'] >= RUNS * 0.95, JSON.stringify(n));
  });
});
