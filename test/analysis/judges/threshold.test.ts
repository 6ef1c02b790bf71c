import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compile, ExpressionError } from '../../../src/config/expression.js';
import {
  compileConditions,
  emptyState,
  judgeValue,
  metricPhase,
  nextMeasurementAt,
  overallPhase,
  recordOutcome,
  THRESHOLD_DEFAULTS,
  type Outcome,
  type ThresholdSettings,
} from '../../../src/analysis/judges/threshold/judge.js';

describe('condition expressions', () => {
  const scope = { result: 0.995, latency: { p99: 0.42, values: [1, 5, 3] }, name: 'checkout' };
  const table: [string, unknown][] = [
    ['result >= 0.99', true],
    ['result < 0.99 || latency.p99 > 0.5', false],
    ['result >= 0.99 and not (latency.p99 > 0.4)', false],
    ['1 + 2 * 3 - 4 / 2', 5],
    ['-result * 100 < -99', true],
    ['latency.values[1] == 5', true],
    ['max(latency.values) == 5 && min(1, 2, 0.5) == 0.5', true],
    ['len(latency.values) == 3 && abs(-2) == 2', true],
    ['latency.missing >= 0', false], // a missing value is NaN: no comparison is true
    ['default(latency.missing, 7) == 7', true],
    ['isNaN(latency.missing)', true],
    ["name == 'checkout' && name + '-v2' == \"checkout-v2\"", true],
    ['10 % 4 == 2 && 1e-3 == 0.001', true],
  ];
  for (const [source, want] of table)
    it(`${source} → ${String(want)}`, () => assert.equal(compile(source).evaluate(scope), want));

  const errors: [string, string][] = [
    ['result >=', 'expression ends too early at column 10'],
    ['result >= 0.99 )', 'unexpected ")" at column 16'],
    ['result # 1', 'unexpected character "#" at column 8'],
    ['exec(result)', 'unknown function "exec" (known: abs, min, max, len, isNaN, default) at column 1'],
    ["'open", 'unterminated string at column 1'],
    ['(result', 'expected ")" before the end at column 8'],
  ];
  for (const [source, message] of errors) {
    it(`rejects ${source}`, () =>
      assert.throws(
        () => compile(source),
        (err: unknown) => err instanceof ExpressionError && err.message === message,
      ));
  }
  it('names an unknown variable when evaluated, and lists the known ones', () => {
    assert.throws(
      () => compile('reslt > 1').evaluate({ result: 1 }),
      /unknown name "reslt" \(known: result\) at column 1/,
    );
    assert.deepEqual(compile('result.a > b').names, ['result', 'b']);
  });
  it('cannot reach JavaScript: no property of a prototype is visible', () => {
    assert.equal(compile('result.constructor').evaluate({ result: {} }), undefined);
    assert.equal(compile('name.length').evaluate({ name: 'x' }), undefined);
    assert.throws(() => compile('toString').evaluate({}), /unknown name "toString"/);
    assert.throws(() => compile('constructor > 1').evaluate({}), /unknown name "constructor"/);
  });
});

describe('threshold measurements (Argo Rollouts semantics)', () => {
  const phase = (success: string | undefined, failure: string | undefined, result: number) =>
    judgeValue(
      compileConditions({
        ...(success ? { successCondition: success } : {}),
        ...(failure ? { failureCondition: failure } : {}),
      }),
      { result },
    );
  it('success only: not meeting it is a failure', () => {
    assert.equal(phase('result >= 0.99', undefined, 0.995), 'Successful');
    assert.equal(phase('result >= 0.99', undefined, 0.98), 'Failed');
  });
  it('failure only: not meeting it is a success', () => {
    assert.equal(phase(undefined, 'result < 0.95', 0.98), 'Successful');
    assert.equal(phase(undefined, 'result < 0.95', 0.9), 'Failed');
  });
  it('both: neither is inconclusive, failure wins over success', () => {
    assert.equal(phase('result >= 0.99', 'result < 0.95', 0.97), 'Inconclusive');
    assert.equal(phase('result >= 0.5', 'result < 0.95', 0.9), 'Failed');
  });
  it('neither: every value succeeds', () => assert.equal(phase(undefined, undefined, 0), 'Successful'));

  const settings = (over: Partial<ThresholdSettings>): ThresholdSettings => ({
    ...THRESHOLD_DEFAULTS,
    successCondition: 'result >= 0.99',
    interval: 60,
    count: 5,
    ...over,
  });
  const run = (s: ThresholdSettings, outcomes: Outcome[]) => {
    const conditions = compileConditions(s);
    let state = emptyState();
    const phases: string[] = [];
    for (const o of outcomes) {
      const at = nextMeasurementAt(s, state);
      if (at === undefined) break;
      state = recordOutcome(state, conditions, o, at);
      phases.push(metricPhase(s, state));
    }
    return { state, phases };
  };
  const v = (value: number): Outcome => ({ kind: 'value', value });
  it('failureLimit counts failures before the metric fails', () => {
    const { phases } = run(settings({ failureLimit: 1 }), [v(0.98), v(0.999), v(0.97), v(0.999)]);
    assert.deepEqual(phases, ['Running', 'Running', 'Failed']);
  });
  it('count measurements, spaced by interval after initialDelay, then Successful', () => {
    const { phases, state } = run(
      settings({ initialDelay: 30 }),
      Array.from({ length: 7 }, () => v(0.999)),
    );
    assert.deepEqual(phases, ['Running', 'Running', 'Running', 'Running', 'Successful']);
    assert.deepEqual(
      state.measurements.map((m) => m.at),
      [30, 90, 150, 210, 270],
    );
  });
  it('empty results are inconclusive (never a silent zero); errors in a row beyond the limit are an Error', () => {
    const empty: Outcome = { kind: 'empty', message: 'query returned no series' };
    assert.deepEqual(run(settings({ inconclusiveLimit: 1 }), [empty, v(0.999), empty]).phases, [
      'Running',
      'Running',
      'Inconclusive',
    ]);
    const error: Outcome = { kind: 'error', message: 'Prometheus 400 bad_data' };
    assert.deepEqual(
      run(settings({ consecutiveErrorLimit: 2 }), [error, error, v(0.999), error, error, error]).phases,
      ['Running', 'Running', 'Running', 'Running', 'Running', 'Error'],
    );
  });
  it('a source that does not answer at all, beyond the error limit, is Inconclusive: an outage says nothing about the canary', () => {
    const refused: Outcome = { kind: 'error', message: 'connect ECONNREFUSED', unreachable: true };
    const timeout: Outcome = { kind: 'timeout', message: 'no answer within 5000 ms' };
    const rejected: Outcome = { kind: 'error', message: 'Prometheus 400 bad_data' };
    assert.deepEqual(run(settings({ consecutiveErrorLimit: 2 }), [refused, timeout, refused]).phases, [
      'Running',
      'Running',
      'Inconclusive',
    ]);
    assert.deepEqual(
      run(settings({ consecutiveErrorLimit: 2 }), [refused, rejected, refused]).phases,
      ['Running', 'Running', 'Error'],
      'one answered error in the streak makes it an Error',
    );
  });
  it('a condition that cannot be evaluated is an Error measurement with the reason', () => {
    const s = settings({ successCondition: 'result.p99 < limit' });
    const state = recordOutcome(emptyState(), compileConditions(s), v(1), 0);
    assert.equal(state.measurements[0]!.phase, 'Error');
    assert.match(state.measurements[0]!.message!, /unknown name "limit"/);
  });
  it('the run takes its worst metric; dry-run metrics never decide', () => {
    assert.equal(
      overallPhase([
        { phase: 'Successful', dryRun: false },
        { phase: 'Failed', dryRun: true },
      ]),
      'Successful',
    );
    assert.equal(
      overallPhase([
        { phase: 'Inconclusive', dryRun: false },
        { phase: 'Error', dryRun: false },
      ]),
      'Error',
    );
    assert.equal(
      overallPhase([
        { phase: 'Running', dryRun: false },
        { phase: 'Inconclusive', dryRun: false },
      ]),
      'Running',
    );
    assert.equal(
      overallPhase([
        { phase: 'Running', dryRun: false },
        { phase: 'Failed', dryRun: false },
      ]),
      'Failed',
    );
  });
});
