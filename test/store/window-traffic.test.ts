/**
 * A counted window as a traffic cell (src/store/window-traffic.ts): what one version's counts
 * in a sequential run's `window` measurement become in the history, and a histogram's
 * latency rebuilt only from counts that are a histogram's (a person can edit a ConfigMap, and
 * a count source can answer anything).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LatencySketch, RELATIVE_ACCURACY } from '../../src/shared/sketch.js';
import { sparseSketch } from '../../src/store/history.js';
import { trafficCellOf, type CountedVersion } from '../../src/store/window-traffic.js';

const near = (x: number, want: number) => Math.abs(x / want - 1) <= RELATIVE_ACCURACY;

describe('a counted window as a traffic cell', () => {
  it('is nothing where the version served nothing or the counts are not counts', () => {
    const rows: [string, CountedVersion | undefined][] = [
      ['no counts', undefined],
      ['no requests', { requests: 0, errors: 0 }],
      ['requests not a number', { requests: '10', errors: 0 }],
      ['errors missing', { requests: 10 }],
      ['negative errors', { requests: 10, errors: -1 }],
      ['NaN requests', { requests: NaN, errors: 0 }],
    ];
    for (const [why, counted] of rows) assert.equal(trafficCellOf(counted), undefined, why);
  });

  it('keeps requests and 5xx, the error rate at most 1, and no latency without a histogram', () => {
    const cell = trafficCellOf({ requests: 200, errors: 50 })!;
    assert.deepEqual([cell.requests, cell.errors, cell.maxErrorRate, cell.maxP99], [200, 50, 0.25, 0]);
    assert.equal(cell.latency.count, 0);
    // More errors than requests (counters read a scrape apart): the rate is capped, not made up.
    assert.equal(trafficCellOf({ requests: 10, errors: 12 })!.maxErrorRate, 1);
  });

  it('puts each histogram bucket’s requests at its upper bound, those above the last at the last', () => {
    // 100 requests: 40 by 25 ms, 40 more by 50 ms, 18 by 100 ms, 1 by 250 ms, 1 above it.
    const cell = trafficCellOf({ requests: 100, errors: 0, bounds: [0.025, 0.05, 0.1, 0.25], above: [60, 20, 2, 1] })!;
    const sketch = LatencySketch.from(sparseSketch(cell.latency));
    assert.equal(sketch.count, 100, 'every request in the sketch');
    assert.ok(near(sketch.quantile(0.4), 0.025), `${sketch.quantile(0.4)}`);
    assert.ok(near(sketch.quantile(0.5), 0.05), `${sketch.quantile(0.5)}`);
    assert.ok(near(sketch.quantile(0.99), 0.25), `${sketch.quantile(0.99)}`);
    assert.ok(near(sketch.quantile(1), 0.25), 'nothing above the last finite bound is made up');
    assert.ok(near(cell.maxP99, 0.25), `${cell.maxP99}`);
  });

  it('keeps no latency from counts that are not a histogram’s', () => {
    const rows: [string, unknown, unknown][] = [
      ['no bounds', [], []],
      ['lengths differ', [0.1, 0.2], [5]],
      ['bounds not rising', [0.2, 0.1], [5, 1]],
      ['a zero bound', [0, 0.1], [5, 1]],
      ['an infinite bound', [0.1, Infinity], [5, 0]],
      ['counts above rising', [0.1, 0.2], [1, 5]],
      ['more above than requests', [0.1], [11]],
      ['a negative count', [0.1], [-1]],
      ['not arrays', '0.1', '1'],
    ];
    for (const [why, bounds, above] of rows) {
      const cell = trafficCellOf({ requests: 10, errors: 1, bounds, above });
      assert.ok(cell, why);
      assert.deepEqual([cell.requests, cell.errors, cell.maxP99, cell.latency.count], [10, 1, 0, 0], why);
    }
  });
});
