/**
 * Where grid windows from several scrape targets may end (prometheus-rounds.ts): only where
 * the pooled error rate is steady on both sides, so a burst at an edge is never split by
 * the targets' scrape offsets. Pure; bench/grid and test/analysis/grid-windows.test.ts
 * measure what it does to the judge.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { joinUnsteady, MOST_JOINED, steadyAcross } from '../../../src/analysis/providers/prometheus-rounds.js';

/** Two-second grid windows from `errors`, each with 1,000 requests. */
const grid = (errors: number[]) =>
  errors.map((e, i) => ({ start: 2000 * i, end: 2000 * (i + 1), requests: 1000, errors: e }));
const spans = (list: { start: number; end: number }[]) => list.map((w) => [w.start / 1000, w.end / 1000]);

describe('steadyAcross', () => {
  it('takes Poisson noise for steady and a burst for a jump', () => {
    const w = (requests: number, errors: number) => ({ start: 0, end: 0, requests, errors });
    assert.equal(steadyAcross(w(1000, 10), w(1000, 14)), true);
    assert.equal(steadyAcross(w(1000, 1), w(1000, 4)), true, 'a few errors more is noise, not a burst');
    assert.equal(steadyAcross(w(1000, 2), w(1000, 200)), false);
    assert.equal(steadyAcross(w(1000, 200), w(1000, 2)), false, 'a burst ending is a jump too');
    // Rates, not counts: twice the requests with twice the errors is steady.
    assert.equal(steadyAcross(w(1000, 100), w(2000, 200)), true);
  });

  it('reads empty windows without dividing by zero', () => {
    const w = (requests: number, errors: number) => ({ start: 0, end: 0, requests, errors });
    assert.equal(steadyAcross(w(0, 0), w(0, 0)), true);
    assert.equal(steadyAcross(w(0, 0), w(1000, 0)), true);
    assert.equal(steadyAcross(w(0, 0), w(1000, 5)), false, 'errors after nothing at all is not a known rate');
  });
});

describe('joinUnsteady', () => {
  it('keeps each window of a steady stretch, holding back the last until the next is read', () => {
    assert.deepEqual(spans(joinUnsteady(grid([3, 2, 4, 3]), grid([3])[0])), [
      [0, 2],
      [2, 4],
      [4, 6],
    ]);
    assert.deepEqual(joinUnsteady([]), []);
    assert.deepEqual(joinUnsteady(grid([3])), [], 'one window waits for the next');
  });

  it('joins a burst with the windows on both sides of it, ending where the rate agrees again', () => {
    // The burst shows in windows 2 and 3 (split by the targets' offsets). Window 1 ends at
    // a jump, 4 begins at one, and 5 is the first with the same rate on both sides.
    assert.deepEqual(spans(joinUnsteady(grid([3, 2, 150, 140, 3, 2, 3]), grid([3])[0])), [
      [0, 2],
      [2, 12],
    ]);
    // Split evenly, the two halves of a burst agree with each other, not with either side.
    assert.deepEqual(spans(joinUnsteady(grid([3, 3, 150, 150, 3, 3, 3, 3]), grid([3])[0])), [
      [0, 2],
      [2, 12],
      [12, 14],
    ]);
  });

  it('compares the first window with the one before it', () => {
    // The burst began in the window before: the first window cannot end alone.
    assert.deepEqual(spans(joinUnsteady(grid([3, 2, 3, 2]), { start: -2000, end: 0, requests: 1000, errors: 300 })), [
      [0, 4],
      [4, 6],
    ]);
  });

  it('ends a long unsteady stretch after MOST_JOINED windows, so the judge still hears of it', () => {
    const flapping = Array.from({ length: 3 * MOST_JOINED }, (_, i) => (i % 2 === 0 ? 2 : 300));
    const out = joinUnsteady(grid(flapping), grid([2])[0]);
    assert.deepEqual(out[0], { start: 0, end: 2000 * MOST_JOINED });
    assert.deepEqual(out[1], { start: 2000 * MOST_JOINED, end: 4000 * MOST_JOINED });
    // Windows follow one another with no gap and no overlap.
    out.slice(1).forEach((w, i) => assert.equal(w.start, out[i]!.end));
  });
});
