import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LatencySketch, RELATIVE_ACCURACY } from '../../src/shared/sketch.js';

/** A deterministic stream of lognormal latencies (median 20 ms, σ 1), from a small LCG. */
function latencies(n: number, seed: number): number[] {
  let s = seed;
  const uniform = () => ((s = (s * 1103515245 + 12345) % 2147483648) + 1) / 2147483649;
  return Array.from(
    { length: n },
    () => 0.02 * Math.exp(Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform())),
  );
}

function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

describe('latency sketch', () => {
  it('answers quantiles within its relative accuracy', () => {
    const values = latencies(50_000, 7);
    const sketch = new LatencySketch();
    for (const v of values) sketch.add(v);
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of [0.01, 0.1, 0.5, 0.9, 0.99, 0.999]) {
      const want = exactQuantile(sorted, q);
      const got = sketch.quantile(q);
      assert.ok(Math.abs(got - want) / want <= RELATIVE_ACCURACY + 1e-12, `q${q}: got ${got}, exact ${want}`);
    }
  });

  it('merges across workers and time into exactly the sketch of all values', () => {
    const [a, b] = [latencies(10_000, 1), latencies(10_000, 2)];
    const whole = new LatencySketch();
    for (const v of [...a, ...b]) whole.add(v);
    const left = new LatencySketch();
    const right = new LatencySketch();
    for (const v of a) left.add(v);
    for (const v of b) right.add(v);
    const merged = LatencySketch.from(JSON.parse(JSON.stringify(left.toJSON()))).merge(right.toJSON());
    assert.deepEqual(merged.toJSON().bins, whole.toJSON().bins);
    assert.equal(merged.count, 20_000);
    assert.equal(merged.quantile(0.99), whole.quantile(0.99));
  });

  it('counts values at or below a bound for Prometheus buckets', () => {
    const sketch = new LatencySketch();
    for (const v of [0.0005, 0.004, 0.006, 0.2, 3]) sketch.add(v);
    assert.equal(sketch.countAtOrBelow(0.005), 2);
    assert.equal(sketch.countAtOrBelow(0.25), 4);
    assert.equal(sketch.countAtOrBelow(10), 5);
    assert.ok(Number.isNaN(new LatencySketch().quantile(0.5)));
  });
});
