/**
 * Not enough data is Inconclusive, never Successful, in every judge: no data at all,
 * measurements that are all errors, fewer points than the template asks for; and a step
 * run waits for that data up to its deadline, then ends Inconclusive. Pure: fake sources,
 * no clock but the numbers passed to `tick`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analysisTemplateSpec, type AnalysisTemplateSpec } from '../../src/config/schemas/analysis.js';
import { AnalysisRun, type MeasurementSource } from '../../src/analysis/run.js';
import type { CountsResult } from '../../src/analysis/providers/counts.js';
import type { MetricResult } from '../../src/analysis/providers/types.js';
import { successRate } from '../helpers/engine-world.js';

const T0 = 1_700_000_000_000;
const EMPTY: MetricResult = { kind: 'empty', message: 'no series' };
const DOWN: MetricResult = { kind: 'error', message: 'connection refused', unreachable: true };

/** A source whose queries answer `answer(call)` and whose counts answer `counts(after, until)`. */
function source(answer: (call: number) => MetricResult, counts?: (after: number, until: number) => CountsResult) {
  let calls = 0;
  const s: MeasurementSource = {
    query: () => Promise.resolve(answer(calls++)),
    counts: () => ({ name: 'builtin', windows: (after, until) => Promise.resolve(counts!(after, until)) }),
  };
  return s;
}

/** One window per second in (after, until], `canary` requests each, no errors, ten times as many on control. */
function perSecond(canary: number) {
  return (after: number, until: number): CountsResult => {
    const windows = [];
    for (let t = after; t + 1000 <= until; t += 1000)
      windows.push({
        start: t,
        end: t + 1000,
        versions: {
          canary: { requests: canary, errors: 0 },
          stable: { requests: canary * 10, errors: 0 },
          baseline: { requests: 0, errors: 0 },
        },
      });
    return { kind: 'value', windows };
  };
}

/** A step run of `spec` on `src` that waits for data until `seconds` after T0. */
const withDeadline = (spec: AnalysisTemplateSpec, src: MeasurementSource, seconds: number) =>
  AnalysisRun.start('run', spec, 'step', T0, { source: src }, { deadline: T0 + seconds * 1000 });

/** A step run that must wait (Running) until its deadline `seconds` after T0, then be Inconclusive: its reason. */
async function waitsUntilDeadline(
  spec: AnalysisTemplateSpec,
  src: MeasurementSource,
  seconds: number,
): Promise<string> {
  const run = withDeadline(spec, src, seconds);
  const seen = await drive(run, seconds + 10);
  assert.ok(
    seen.slice(0, seconds - 1).every((v) => v === 'Running'),
    seen.join(),
  );
  assert.equal(seen.at(-1), 'Inconclusive');
  assert.equal(run.report().endedAt, T0 + seconds * 1000);
  return run.report().reason;
}

/** Ticks every second for `seconds`; returns the run's verdict at each. */
async function drive(run: AnalysisRun, seconds: number, from = 0): Promise<string[]> {
  const seen: string[] = [];
  for (let s = from + 1; s <= from + seconds; s++) {
    await run.tick(T0 + s * 1000);
    seen.push(run.verdict());
  }
  return seen;
}

const sequential = (promotion: object = {}) =>
  analysisTemplateSpec.parse({
    sequential: { metrics: [{ name: 'errors', kind: 'errors' }], srm: false, promotion },
  });

const threshold = (extra: object = {}) =>
  successRate({ count: 3, successCondition: 'result >= 0.99', inconclusiveLimit: 100, ...extra });

const kayenta = (extra: object = {}) =>
  analysisTemplateSpec.parse({
    kayenta: {
      config: {
        metrics: [
          { name: 'latency', groups: ['latency'], analysisConfigurations: { canary: { direction: 'increase' } } },
        ],
        classifier: { groupWeights: { latency: 100 } },
      },
      metrics: { latency: { builtin: { signal: 'latency', quantile: 0.9 } } },
      interval: '10s',
      step: '1s',
      count: 2,
      ...extra,
    },
  });

const series = (points: number): MetricResult => ({
  kind: 'value',
  value: 0.05,
  series: Array.from({ length: points }, (_, i) => 0.05 + 0.001 * (i % 3)),
});

describe('sequential: not enough data', () => {
  it('no data at all is Inconclusive when the run ends, not Successful', async () => {
    const run = AnalysisRun.start('seq', sequential(), 'step', T0, {
      source: source(
        () => EMPTY,
        () => ({ kind: 'empty', message: 'no requests yet' }),
      ),
    });
    assert.ok((await drive(run, 60)).every((v) => v === 'Running'));
    run.finish(T0 + 61_000);
    assert.equal(run.verdict(), 'Inconclusive', run.report().reason);
  });

  it('a source that only fails is Inconclusive when the run ends', async () => {
    const run = AnalysisRun.start('seq', sequential(), 'step', T0, {
      source: source(
        () => EMPTY,
        () => ({ kind: 'timeout', message: 'no answer in 5s' }),
      ),
    });
    await drive(run, 60);
    run.finish(T0 + 61_000);
    assert.equal(run.verdict(), 'Inconclusive', run.report().reason);
  });

  it('fewer canary requests than promotion.minRequests: Running, then Inconclusive at the end', async () => {
    const run = AnalysisRun.start('seq', sequential({ minRequests: 1000 }), 'step', T0, {
      source: source(() => EMPTY, perSecond(10)),
    });
    assert.ok(
      (await drive(run, 30)).every((v) => v === 'Running'),
      'it waits for the data',
    );
    run.finish(T0 + 31_000);
    assert.equal(run.verdict(), 'Inconclusive');
  });

  it('a step waits for minRequests up to its deadline, then ends Inconclusive saying what was missing', async () => {
    assert.match(
      await waitsUntilDeadline(
        sequential({ minRequests: 1000 }),
        source(() => EMPTY, perSecond(10)),
        60,
      ),
      /not enough data .*600 of 1000 canary requests/,
    );
  });

  it('with enough data before the deadline it passes', async () => {
    const run = withDeadline(
      sequential({ minRequests: 1000 }),
      source(() => EMPTY, perSecond(100)),
      60,
    );
    const seen = await drive(run, 30);
    assert.equal(seen.at(-1), 'Successful', run.report().reason);
  });

  it('the schema has promotion.minUsers, 0 unless set', () => {
    assert.equal(sequential().sequential!.promotion.minUsers, 0);
    assert.equal(sequential({ minUsers: 50 }).sequential!.promotion.minUsers, 50);
  });
});

describe('threshold: not enough data', () => {
  it('no data at all (empty results) is never Successful, even with a generous inconclusiveLimit', async () => {
    const run = AnalysisRun.start('thr', threshold(), 'step', T0, { source: source(() => EMPTY) });
    assert.ok((await drive(run, 10)).every((v) => v !== 'Successful'));
    run.finish(T0 + 11_000);
    assert.equal(run.verdict(), 'Inconclusive');
  });

  it('measurements that are all errors are never Successful', async () => {
    const run = AnalysisRun.start('thr', threshold(), 'step', T0, { source: source(() => DOWN) });
    const seen = await drive(run, 10);
    assert.ok(
      seen.every((v) => v !== 'Successful'),
      seen.join(),
    );
    assert.equal(seen.at(-1), 'Inconclusive', 'an unreachable source says nothing about the canary');
  });

  it('fewer measurements with a value than minMeasurements: it keeps measuring past count', async () => {
    const ok: MetricResult = { kind: 'value', value: 1 };
    const answers = [EMPTY, ok, EMPTY, ok, ok];
    const run = AnalysisRun.start('thr', threshold({ minMeasurements: 3 }), 'step', T0, {
      source: source((i) => answers[i] ?? ok),
    });
    const seen = await drive(run, 5);
    assert.deepEqual(seen, ['Running', 'Running', 'Running', 'Running', 'Successful']);
  });

  it('a step waits for its measurements up to its deadline, then ends Inconclusive', async () => {
    assert.match(
      await waitsUntilDeadline(
        threshold(),
        source(() => EMPTY),
        30,
      ),
      /not enough data .*0 of 1 measurement/,
    );
  });
});

describe('kayenta: not enough data', () => {
  it('no data at all is not scored (Kayenta would fail it): Running, then Inconclusive at the end', async () => {
    const run = AnalysisRun.start('kay', kayenta(), 'step', T0, { source: source(() => EMPTY) });
    const seen = await drive(run, 30);
    assert.ok(
      seen.every((v) => v === 'Running'),
      seen.join(),
    );
    run.finish(T0 + 31_000);
    assert.equal(run.verdict(), 'Inconclusive');
  });

  it('series that are all errors are not scored either', async () => {
    const run = AnalysisRun.start('kay', kayenta(), 'step', T0, { source: source(() => DOWN) });
    assert.ok((await drive(run, 30)).every((v) => v === 'Running'));
  });

  it('fewer points than minPoints on a side: not scored', async () => {
    const run = AnalysisRun.start('kay', kayenta({ minPoints: 5 }), 'step', T0, { source: source(() => series(3)) });
    assert.ok((await drive(run, 30)).every((v) => v === 'Running'));
    const enough = AnalysisRun.start('kay', kayenta({ minPoints: 5 }), 'step', T0, {
      source: source(() => series(10)),
    });
    assert.equal((await drive(enough, 20)).at(-1), 'Successful', enough.report().reason);
  });

  it('a step waits for data up to its deadline, then ends Inconclusive', async () => {
    assert.match(
      await waitsUntilDeadline(
        kayenta(),
        source(() => EMPTY),
        60,
      ),
      /not enough data by the step's deadline: no metric had 1 point/,
    );
  });
});
