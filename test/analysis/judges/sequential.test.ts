import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SequentialJudge } from '../../../src/analysis/judges/sequential/judge.js';
import type { VersionWindow } from '../../../src/analysis/judges/sequential/window.js';

/** A window whose latencies are all `seconds`. */
const side = (requests: number, seconds: number): VersionWindow => ({
  requests,
  errors: 0,
  latency: { countAbove: (ts) => ts.map((t) => (seconds > t ? requests : 0)), quantile: () => seconds },
});

describe('sequential judge', () => {
  it('counts every canary request toward minRequests, even before a latency threshold exists', () => {
    // A latency-only template: its quantile tests start in the second window, once control has a threshold.
    const judge = new SequentialJudge({
      alpha: 0.05,
      metrics: [{ name: 'latency', kind: 'latency', quantiles: [0.5] }],
      srm: false,
      promotion: { minRequests: 100 },
    });
    judge.observe({ canary: side(60, 0.05), control: side(600, 0.05) });
    assert.equal(judge.verdict(), 'Running');
    judge.observe({ canary: side(40, 0.05), control: side(600, 0.05) });
    assert.equal(judge.verdict(), 'Successful', judge.report().reason);
    assert.match(judge.report().reason, /after 100 canary requests/);
    const back = SequentialJudge.from(JSON.parse(JSON.stringify(judge.toJSON())));
    assert.equal(back.verdict(), 'Successful');
  });
});
