/**
 * The `CountSource` conformance suite: what every source of the sequential judge's counts
 * must do, run against each implementation (counts.test.ts). A harness serves requests
 * on a router's counters and makes them visible to its source at a time (the builtin
 * source's `/stats` read, a Prometheus scrape).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CountSource, CountWindow } from '../../../src/analysis/providers/counts.js';

export interface CountHarness {
  source: CountSource;
  /** Serves `n` requests of `version` answered with `status` after `seconds`. */
  serve(version: 'stable' | 'canary', status: number, seconds: number, n: number): void;
  /** The source sees the counters as they are now, stamped `time` (ms). */
  observe(time: number): Promise<void>;
  /** The router restarts: its counters begin again from zero. */
  restart(): void;
  close(): Promise<void>;
}

const counts = (w: CountWindow) => ({
  end: w.end,
  canary: [w.versions.canary.requests, w.versions.canary.errors, w.versions.canary.latency!.countAbove([0.025])[0]],
  stable: [w.versions.stable.requests, w.versions.stable.errors, w.versions.stable.latency!.countAbove([0.025])[0]],
});

async function windows(source: CountSource, after: number, until: number): Promise<CountWindow[]> {
  const r = await source.windows(after, until);
  assert.equal(r.kind, 'value', JSON.stringify(r));
  return (r as { windows: CountWindow[] }).windows;
}

export function countSourceConformance(name: string, make: () => Promise<CountHarness>): void {
  describe(`CountSource conformance: ${name}`, () => {
    it('gives each interval between two observations once, with what was served in it: 5xx are errors, 4xx are not', async () => {
      const h = await make();
      try {
        await h.observe(1000);
        h.serve('canary', 200, 0.01, 7);
        h.serve('canary', 500, 0.2, 2);
        h.serve('stable', 404, 0.01, 5);
        await h.observe(2000);
        h.serve('stable', 500, 0.2, 1);
        await h.observe(3000);
        const first = await windows(h.source, 500, 3000);
        assert.deepEqual(first.map(counts), [
          { end: 2000, canary: [9, 2, 2], stable: [5, 0, 0] },
          { end: 3000, canary: [0, 0, 0], stable: [1, 1, 1] },
        ]);
        assert.deepEqual(
          first.map((w) => w.start),
          [1000, 2000],
        );
        assert.deepEqual(await windows(h.source, 3000, 3000), [], 'nothing new since the last interval');
        h.serve('canary', 200, 0.01, 4);
        await h.observe(4000);
        const next = await windows(h.source, 3000, 4500);
        assert.deepEqual(next.map(counts), [{ end: 4000, canary: [4, 0, 0], stable: [0, 0, 0] }]);
        assert.equal(next[0]!.start, 3000, 'the next interval begins where the last ended');
      } finally {
        await h.close();
      }
    });

    it('reads a restart as counting from zero, never as negative traffic', async () => {
      const h = await make();
      try {
        h.serve('canary', 200, 0.01, 50);
        await h.observe(1000);
        h.restart();
        h.serve('canary', 500, 0.2, 3);
        await h.observe(2000);
        const [w] = await windows(h.source, 1000, 2000);
        assert.deepEqual(counts(w!), { end: 2000, canary: [3, 3, 3], stable: [0, 0, 0] });
      } finally {
        await h.close();
      }
    });
  });
}
