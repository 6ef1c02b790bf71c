/**
 * What a Rollout resource's status shows people: the printer columns and the conditions
 * `kubectl wait --for=condition=…` reads, from the engine's status.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initialStatus } from '../../src/rollout/machine.js';
import { conditionsOf, stepsOf, summaryOf } from '../../src/store/kubernetes-status.js';
import { compactRun, RUN_STATE_BUDGET } from '../../src/store/kubernetes-run-state.js';
import type { AnalysisRunState } from '../../src/analysis/run.js';
import type { RolloutStatus } from '../../src/rollout/types.js';
import { doc } from '../helpers/engine-world.js';

const spec = doc([{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }]).spec;
const idle = initialStatus(spec, 1000);
const releasing = (step: number, phase: RolloutStatus['phase']): RolloutStatus => ({
  ...idle,
  phase,
  step,
  canary: { version: 'v2' } as RolloutStatus['canary'],
});

describe('a Rollout resource’s columns and conditions', () => {
  it('shows the step as Argo Rollouts does: the one being carried out of the plan’s, and - between releases', () => {
    assert.equal(summaryOf(idle, 3).step, '-');
    assert.equal(summaryOf(releasing(0, 'SmallTraffic'), 3).step, '1/3');
    assert.equal(summaryOf(releasing(1, 'Paused'), 3).step, '2/3');
    assert.equal(summaryOf(releasing(3, 'FullDeploy'), 3).step, '3/3', 'all done');
    assert.equal(summaryOf(releasing(2, 'Monitor')).step, '2', 'a plan without steps counts them as the engine does');
  });

  it('counts the steps of the engine’s document for the column, and none of anything else', () => {
    assert.equal(stepsOf(doc([{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }])), 3);
    for (const other of [undefined, null, {}, { spec: { strategy: { canary: { steps: 'three' } } } }])
      assert.equal(stepsOf(other), undefined, JSON.stringify(other));
  });

  it('says Healthy between releases, Progressing and Paused during one, and Completed after a promotion', () => {
    const types = (s: RolloutStatus) =>
      conditionsOf(s, 'now')
        .conditions.filter((c) => c.status === 'True')
        .map((c) => c.type);
    assert.deepEqual(types(idle), ['Healthy']);
    assert.deepEqual(types(releasing(0, 'SmallTraffic')), ['Progressing']);
    assert.deepEqual(types(releasing(1, 'Paused')), ['Paused']);
    assert.deepEqual(types({ ...idle, result: { outcome: 'Promoted' } as RolloutStatus['result'] }), [
      'Healthy',
      'Completed',
    ]);
    assert.deepEqual(types({ ...idle, result: { outcome: 'RolledBack' } as RolloutStatus['result'] }), ['Degraded']);
  });

  it('keeps a condition’s lastTransitionTime while its status holds', () => {
    const first = conditionsOf(idle, 't1').conditions;
    const again = conditionsOf(idle, 't2', first).conditions;
    assert.equal(again.find((c) => c.type === 'Healthy')!.lastTransitionTime, 't1');
    const moved = conditionsOf(releasing(0, 'SmallTraffic'), 't3', again).conditions;
    assert.equal(moved.find((c) => c.type === 'Healthy')!.lastTransitionTime, 't3');
  });
});

describe('a running analysis’s state as the Rollout’s status keeps it', () => {
  const base = {
    template: 't',
    spec: { threshold: { metrics: [] } },
    scope: 'step',
    startedAt: 0,
    through: 0,
  } as unknown as AnalysisRunState;
  const measured = (n: number) =>
    ({
      ...base,
      measurements: [{ metric: 'm' }],
      threshold: [
        {
          measurements: Array.from({ length: n }, (_, i) => ({
            at: i * 30,
            phase: 'Successful',
            value: 0.999,
            message: `secret-${i}`,
          })),
          failed: 0,
          inconclusive: 0,
          errors: 0,
          consecutiveErrors: 0,
        },
      ],
    }) as unknown as AnalysisRunState;

  it('keeps what the judge counts of a threshold metric’s past measurements, not their values or messages', () => {
    const kept = compactRun(measured(3))!;
    assert.deepEqual(kept.measurements, []);
    assert.deepEqual(kept.threshold![0]!.measurements, [
      { at: 0, phase: 'Successful', value: 0 },
      { at: 30, phase: 'Successful', value: 0 },
      { at: 60, phase: 'Successful', value: 0 },
    ]);
    assert.doesNotMatch(JSON.stringify(kept), /secret|0\.999/);
  });

  it('keeps none once it outgrows its budget (days of measurements), rather than the status outgrowing etcd', () => {
    assert.ok(compactRun(measured(100)));
    assert.equal(compactRun(measured(5_000)), undefined);
    assert.ok(JSON.stringify(compactRun(measured(1_000)) ?? {}).length <= RUN_STATE_BUDGET);
  });
});
