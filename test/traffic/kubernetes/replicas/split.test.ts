import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { podsFor, share } from '../../../../src/traffic/kubernetes/replicas/split.js';

describe('a canary weight as pods', () => {
  // Each row: weight, total pods, the split (or the problem's words); the share is canary/total.
  const rows: [number, number, { canary: number; stable: number } | RegExp][] = [
    [0, 10, { canary: 0, stable: 10 }],
    [100, 10, { canary: 10, stable: 0 }],
    [10, 10, { canary: 1, stable: 9 }],
    [50, 10, { canary: 5, stable: 5 }],
    [5, 20, { canary: 1, stable: 19 }],
    [25, 20, { canary: 5, stable: 15 }],
    [33.33, 3, { canary: 1, stable: 2 }], // 33.333…%: within kanari's 0.01 resolution
    [66.67, 3, { canary: 2, stable: 1 }],
    [0, 1, { canary: 0, stable: 1 }],
    [100, 1, { canary: 1, stable: 0 }],
    // 5% of 10 pods is half a pod: not 0 (the canary would get nothing) and not 1 (10%, which the judge would read as a broken split).
    [5, 10, /0\.5 pods.*0% \(0 pods\) and 10% \(1 pod\)/],
    [25, 10, /2\.5 pods.*20% \(2 pods\) and 30% \(3 pods\)/],
    [50, 1, /0\.5 pods.*0% \(0 pods\) and 100% \(1 pod\)/],
    [33.3, 3, /is 0\.999 pods.*0% \(0 pods\) and 33\.33% \(1 pod\)/],
    [10, 0, /at least one pod/],
  ];
  for (const [weight, total, want] of rows)
    it(`${weight}% of ${total} pods`, () => {
      const got = podsFor(weight, total);
      if (want instanceof RegExp) assert.ok('problem' in got && want.test(got.problem), JSON.stringify(got));
      else assert.deepEqual(got, want);
    });

  it('every weight a whole number of pods makes is done, for every total up to 40', () => {
    for (let total = 1; total <= 40; total++)
      for (let canary = 0; canary <= total; canary++) {
        const weight = share(canary, total);
        assert.deepEqual(podsFor(weight, total), { canary, stable: total - canary }, `${weight}% of ${total}`);
      }
  });
});
