/**
 * Random event sequences against the machine: whatever happens — verdicts, crashes,
 * refused traffic updates, webhook answers, people pressing buttons in any order — a
 * rolled-back version never gets traffic again until it is deployed again, nothing is
 * promoted without every required analysis passing or a person explicitly overriding it,
 * no gate is passed by without its webhook's yes, and a rolling update never stops old
 * instances the router still sends users to. For each strategy.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Random } from '../../src/analysis/stats/random.js';
import { transition } from '../../src/rollout/machine.js';
import { planOf } from '../../src/rollout/strategies/index.js';
import { GATES, type RolloutSpec } from '../../src/config/schemas/rollout.js';
import type { GateType, Release, RolloutEvent, RolloutStatus, UntimedEvent } from '../../src/rollout/types.js';
import { Driver, pool, spec, specWith } from '../helpers/rollout.js';

const CANARY = spec(
  [
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
  ],
  {
    analysis: { templates: ['background'], startingStep: 1 },
    baseline: { upstreams: ['http://127.0.0.1:9003'] },
    progressDeadline: '5m',
  },
);

const hooks = GATES.map((type) => ({ name: type, type, url: 'http://127.0.0.1:9/' }));
const BLUE_GREEN = specWith({
  strategy: {
    canary: {
      analysis: { templates: ['background'] },
      steps: [{ setWeight: 5 }, { analysis: { templates: ['fast'] } }],
    },
    blueGreen: {
      previewRoute: { cookie: 'preview', value: '1' },
      prePromotionAnalysis: { templates: ['pre'] },
      autoPromotionDelay: '1m',
      postPromotionAnalysis: { templates: ['post'] },
      scaleDownDelay: '30s',
    },
  },
  webhooks: hooks,
  progressDeadline: '5m',
});
const ROLLING = specWith({
  stable: { version: 'v1', process: { command: 'true', instances: 5 } },
  canary: { process: { command: 'true', instances: 5 } },
  strategy: { rolling: { maxSurge: 1, maxUnavailable: 1, minReady: '10s', analysis: { templates: ['background'] } } },
  webhooks: hooks.filter((h) => h.type === 'confirm-traffic-increase' || h.type === 'rollback'),
  progressDeadline: '5m',
});

const VERDICTS = ['Successful', 'Successful', 'Successful', 'Failed', 'Error', 'Inconclusive', 'Running'] as const;

/**
 * Half the sequences are chaos (anything, often); the other half are calm (the world
 * mostly catches up, verdicts mostly pass, people rarely press buttons), so that rollouts
 * also get through every step and the promotion rules are tested where they matter.
 */
function randomEvent(
  r: Random,
  s: RolloutStatus,
  next: () => string,
  release: (v: string) => Release,
  calm: boolean,
): UntimedEvent {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r.uniform() * xs.length)]!;
  const roll = calm ? r.uniform() * 0.62 : r.uniform();
  if (calm && r.uniform() < 0.03) return { type: pick(['promote', 'abort', 'pause', 'resume'] as const) };
  if (calm && s.phase === 'Paused' && r.uniform() < 0.2) return { type: pick(['promote', 'resume'] as const) };
  if (calm && s.phase === 'StableOnly' && r.uniform() < 0.3) return { type: 'deploy', release: release(next()) };
  const running = s.analyses.filter((a) => a.endedAt === undefined);
  const waiting = s.instances.filter((i) => !s.ready.includes(i.id));
  if (roll < 0.2 && s.appliedSeq !== s.trafficSeq) return { type: 'trafficApplied', seq: s.trafficSeq };
  if (roll < 0.3 && waiting.length > 0) return { type: 'instanceReady', id: pick(waiting).id };
  if (roll < 0.38 && s.stopping.length > 0) return { type: 'instanceStopped', id: pick(s.stopping) };
  if (roll < 0.5 && running.length > 0)
    return {
      type: 'analysisVerdict',
      id: pick(running).id,
      verdict: calm && r.uniform() < 0.8 ? 'Successful' : pick(VERDICTS),
      reason: 'random',
    };
  if (roll < 0.56 && s.gate)
    return {
      type: 'webhook',
      gate: s.gate.type,
      step: s.gate.step,
      passed: r.uniform() < (calm ? 0.95 : 0.7),
      reason: 'random',
    };
  if (roll < 0.57)
    return {
      type: 'webhook',
      gate: pick(['rollback', 'rollout', 'confirm-promotion'] as GateType[]),
      step: Math.floor(r.uniform() * 6),
      passed: r.uniform() < 0.3,
      reason: 'random',
    };
  if (roll < 0.6) return { type: 'tick' };
  if (roll < 0.64) return { type: 'trafficFailed', seq: s.trafficSeq, reason: 'router down' };
  if (roll < 0.67 && s.instances.length > 0)
    return { type: 'instanceFailed', id: pick(s.instances).id, reason: 'crashed' };
  if (roll < 0.72) return { type: 'deploy', release: release(next()) };
  if (roll < 0.75) return { type: 'setWeight', weight: Math.floor(r.uniform() * 101) };
  return {
    type: pick(['promote', 'promote', 'abort', 'pause', 'resume', 'resume', 'retry', 'undo'] as const),
    ...(r.uniform() < 0.15 ? { full: true } : {}),
  } as UntimedEvent;
}

const PLANS: [string, RolloutSpec, (v: string) => Release][] = [
  ['canary', CANARY, (version) => ({ version, target: { upstreams: ['http://127.0.0.1:9002'], size: 1 } as never })],
  [
    'blueGreen after canary steps, with every gate',
    BLUE_GREEN,
    (version) => ({ version, target: { upstreams: ['http://127.0.0.1:9002'], size: 1 } as never }),
  ],
  ['rolling', ROLLING, (version) => pool(version, 5)],
];

describe('rollout machine, random event sequences', () => {
  for (const [name, PLAN, release] of PLANS)
    it(`${name}: never sends traffic to a rolled-back version, never promotes without the required analyses or gates (2,000 sequences)`, () => {
      const { steps, promotionAt } = planOf(PLAN);
      const ANALYSIS_STEPS = steps.flatMap((s, i) => (s.analysis ? [i] : []));
      const gate = (type: GateType) => PLAN.webhooks.some((h) => h.type === type);
      const r = new Random(7);
      let promotions = 0;
      let rollbacks = 0;
      let stepped = 0;
      for (let run = 0; run < 2000; run++) {
        const d = new Driver(PLAN);
        let counter = 1;
        const next = () => `v${++counter}`;
        const rolledBack = new Set<string>();
        for (let i = 0; i < (run % 2 === 1 ? 160 : 80); i++) {
          d.now += Math.floor(r.uniform() * 20_000);
          const before = d.status;
          const event = { at: d.now, ...randomEvent(r, before, next, release, run % 2 === 1) } as RolloutEvent;
          const t = transition(PLAN, before, event);
          const s = t.status;
          // The state is printed for a failure only: printing it for every check took most of this file's time.
          const holds = (ok: boolean, what: string) => {
            if (!ok)
              assert.fail(`${what}: run ${run}, event ${i} ${JSON.stringify(event)}\n${JSON.stringify(s, null, 1)}`);
          };
          if (t.rejected) {
            assert.equal(s, before, 'a refused event changes nothing');
            continue;
          }
          d.status = s;
          // A deploy of a version makes it eligible again.
          if (s.canary && s.canary.version !== before.canary?.version) rolledBack.delete(s.canary.version);
          if ((s.phase === 'Rollback' || s.phase === 'Degraded') && s.canary) rolledBack.add(s.canary.version);
          if (
            before.phase !== 'Rollback' &&
            before.phase !== 'Degraded' &&
            s.rollback === undefined &&
            s.result &&
            s.result.outcome !== 'Promoted' &&
            s.result !== before.result
          ) {
            rolledBack.add(s.result.release.version);
          }
          const passed = (type: GateType, step: number) => s.passedGates?.includes(`${type}@${step}`) ?? false;
          if (gate('confirm-rollout') && s.canary && s.instances.some((x) => x.id === s.canary!.version))
            holds(passed('confirm-rollout', 0), 'started before confirm-rollout');
          if (
            gate('pre-rollout') &&
            !s.fullPromotion &&
            s.canary &&
            s.traffic.canary === s.canary.version &&
            (s.traffic.weights.canary > 0 || s.traffic.routes.length > 0)
          )
            holds(passed('pre-rollout', 0), 'traffic before the pre-rollout check');
          if (
            gate('confirm-traffic-increase') &&
            s.traffic.weights.canary > before.traffic.weights.canary &&
            s.phase !== 'FullDeploy'
          ) {
            holds(passed('confirm-traffic-increase', s.step), 'weight raised without confirm-traffic-increase');
          }
          // blueGreen's switch is its promotion as users see it; otherwise the promotion itself.
          const switched =
            promotionAt < steps.length
              ? s.step >= promotionAt && s.traffic.weights.canary === 100 && before.traffic.weights.canary < 100
              : s.phase === 'FullDeploy' && before.phase !== 'FullDeploy';
          if (gate('confirm-promotion') && switched && s.phase !== 'Rollback' && !s.fullPromotion) {
            holds(passed('confirm-promotion', promotionAt), 'promoted without confirm-promotion');
          }
          // Old processes stop only once the router applied a table that no longer sends them users.
          const oldBefore = before.instances.find((x) => x.id === s.stable.version);
          const oldNow = s.instances.find((x) => x.id === s.stable.version);
          if (oldBefore && oldNow && (oldNow.count ?? 99) < (oldBefore.count ?? 99)) {
            holds(s.appliedSeq === s.trafficSeq, 'shrunk before the table moved');
            holds((s.traffic.sizes?.[oldNow.id] ?? 99) <= oldNow.count!, 'shrunk below what the router uses');
          }
          const tr = s.traffic;
          for (const v of rolledBack) {
            holds(tr.stable !== v, 'stable is a rolled-back version');
            if (tr.canary === v)
              holds(
                tr.weights.canary === 0 && tr.routes.length === 0 && tr.mirror === 0,
                `traffic to rolled-back ${v}`,
              );
          }
          if (s.result && s.result !== before.result && s.result.outcome !== 'Promoted') {
            rollbacks++;
            holds(s.appliedSeq === s.trafficSeq, 'rollback finished before traffic moved');
            holds(
              !s.instances.some((x) => x.release.version === s.result!.release.version && x.id !== s.stable.version),
              `rolled-back instance still desired`,
            );
          }
          if (s.result?.outcome === 'Promoted' && before.result?.outcome !== 'Promoted') {
            promotions++;
            if (/promote --full/.test(s.result.reason)) continue;
            stepped++;
            for (const step of ANALYSIS_STEPS) {
              for (const template of steps[step]!.analysis!.templates) {
                const latest = s.analyses
                  .filter((a) => a.scope === 'step' && a.step === step && a.template === template)
                  .at(-1);
                holds(
                  latest !== undefined && (latest.verdict === 'Successful' || latest.accepted === true),
                  `promoted without ${template} at step ${step + 1}`,
                );
              }
            }
          }
        }
      }
      assert.ok(promotions > 50, `the generator reaches promotion often enough to mean something (${promotions})`);
      assert.ok(rollbacks > 500, `and rollbacks (${rollbacks})`);
      assert.ok(stepped > 10, `and promotions through every step, not only promote --full (${stepped})`);
    });
});
