/**
 * Random event sequences against the machine: whatever happens — verdicts, crashes,
 * refused traffic updates, people pressing buttons in any order — a rolled-back version
 * never gets traffic again until it is deployed again, and nothing is promoted without
 * every required analysis passing or a person explicitly overriding it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Random } from '../../src/analysis/simulate/random.js';
import { transition } from '../../src/rollout/machine.js';
import type { RolloutEvent, RolloutStatus, UntimedEvent } from '../../src/rollout/types.js';
import { Driver, spec } from '../helpers/rollout.js';

const PLAN = spec([
  { setHeaderRoute: { match: { header: 'x-canary', value: 'always' } } },
  { setWeight: 5 },
  { analysis: { templates: ['fast'] } },
  { setMirror: { percent: 20 } },
  { baseline: {} },
  { setWeight: 25 },
  { pause: { duration: '30s' } },
  { analysis: { templates: ['fast', 'slow'] } },
  { setWeight: 50 },
  { pause: {} },
  { setWeight: 75 },
], { analysis: { templates: ['background'], startingStep: 1 }, baseline: { upstreams: ['http://127.0.0.1:9003'] }, progressDeadline: '5m' });

const ANALYSIS_STEPS = PLAN.strategy.canary!.steps.flatMap((s, i) => (s.analysis ? [i] : []));
const VERDICTS = ['Successful', 'Successful', 'Successful', 'Failed', 'Error', 'Inconclusive', 'Running'] as const;

function randomEvent(r: Random, s: RolloutStatus, next: () => string): UntimedEvent {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r.uniform() * xs.length)]!;
  const roll = r.uniform();
  const running = s.analyses.filter((a) => a.endedAt === undefined);
  const waiting = s.instances.filter((i) => !s.ready.includes(i.id));
  if (roll < 0.2 && s.appliedSeq !== s.trafficSeq) return { type: 'trafficApplied', seq: s.trafficSeq };
  if (roll < 0.3 && waiting.length > 0) return { type: 'instanceReady', id: pick(waiting).id };
  if (roll < 0.38 && s.stopping.length > 0) return { type: 'instanceStopped', id: pick(s.stopping) };
  if (roll < 0.5 && running.length > 0) return { type: 'analysisVerdict', id: pick(running).id, verdict: pick(VERDICTS), reason: 'random' };
  if (roll < 0.6) return { type: 'tick' };
  if (roll < 0.64) return { type: 'trafficFailed', seq: s.trafficSeq, reason: 'router down' };
  if (roll < 0.67 && s.instances.length > 0) return { type: 'instanceFailed', id: pick(s.instances).id, reason: 'crashed' };
  if (roll < 0.72) return { type: 'deploy', release: { version: next(), target: { upstreams: ['http://127.0.0.1:9002'] } as never } };
  return { type: pick(['promote', 'promote', 'abort', 'pause', 'resume', 'resume', 'retry', 'undo'] as const), ...(r.uniform() < 0.15 ? { full: true } : {}) } as UntimedEvent;
}

describe('rollout machine, random event sequences', () => {
  it('never sends traffic to a rolled-back version and never promotes without the required analyses (3,000 sequences)', () => {
    const r = new Random(7);
    let promotions = 0;
    let rollbacks = 0;
    for (let run = 0; run < 3000; run++) {
      const d = new Driver(PLAN);
      let counter = 1;
      const next = () => `v${++counter}`;
      const rolledBack = new Set<string>();
      for (let i = 0; i < 80; i++) {
        d.now += Math.floor(r.uniform() * 20_000);
        const before = d.status;
        const event = { at: d.now, ...randomEvent(r, before, next) } as RolloutEvent;
        const t = transition(PLAN, before, event);
        const s = t.status;
        const where = () => `run ${run}, event ${i} ${JSON.stringify(event)}\n${JSON.stringify(s, null, 1)}`;
        if (t.rejected) {
          assert.equal(s, before, 'a refused event changes nothing');
          continue;
        }
        d.status = s;
        // A deploy of a version makes it eligible again.
        if (s.canary && s.canary.version !== before.canary?.version) rolledBack.delete(s.canary.version);
        if ((s.phase === 'Rollback' || s.phase === 'Degraded') && s.canary) rolledBack.add(s.canary.version);
        if (before.phase !== 'Rollback' && before.phase !== 'Degraded' && s.rollback === undefined && s.result && s.result.outcome !== 'Promoted' && s.result !== before.result) {
          rolledBack.add(s.result.release.version);
        }
        const tr = s.traffic;
        for (const v of rolledBack) {
          assert.notEqual(tr.stable, v, `stable is a rolled-back version: ${where()}`);
          if (tr.canary === v) assert.ok(tr.weights.canary === 0 && tr.routes.length === 0 && tr.mirror === 0, `traffic to rolled-back ${v}: ${where()}`);
        }
        if (s.result && s.result !== before.result && s.result.outcome !== 'Promoted') {
          rollbacks++;
          assert.equal(s.appliedSeq, s.trafficSeq, `rollback finished before traffic moved: ${where()}`);
          assert.ok(!s.instances.some((x) => x.release.version === s.result!.release.version && x.id !== s.stable.version), `rolled-back instance still desired: ${where()}`);
        }
        if (s.result?.outcome === 'Promoted' && before.result?.outcome !== 'Promoted') {
          promotions++;
          if (/promote --full/.test(s.result.reason)) continue;
          for (const step of ANALYSIS_STEPS) {
            for (const template of PLAN.strategy.canary!.steps[step]!.analysis!.templates) {
              const latest = s.analyses.filter((a) => a.scope === 'step' && a.step === step && a.template === template).at(-1);
              assert.ok(latest && (latest.verdict === 'Successful' || latest.accepted), `promoted without ${template} at step ${step + 1}: ${where()}`);
            }
          }
        }
      }
    }
    assert.ok(promotions > 50, `the generator reaches promotion often enough to mean something (${promotions})`);
    assert.ok(rollbacks > 500, `and rollbacks (${rollbacks})`);
  });
});
