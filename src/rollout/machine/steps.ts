/** The plan's steps: entering one (its traffic, pause, analysis or instances), and when it is done. */
import type { RolloutSpec } from '../../config/schemas/rollout.js';
import { planOf } from '../strategies/index.js';
import { weightFor } from '../strategies/rolling.js';
import { describeStep } from '../strategies/describe.js';
import { stopAnalyses, startAnalyses } from './analyses.js';
import { baselineId, baselineWeight, scaled, setCount, setTraffic } from './capacity.js';
import { gated } from './gates.js';
import { WAITING } from './phases.js';
import { beginPromotion } from './promotion.js';
import type { PauseState, RolloutAction, RolloutStatus } from '../types.js';

/** A rolling update starts the new version's instances wave by wave instead. */
export function startCanary(spec: RolloutSpec, s: RolloutStatus): void {
  if (planOf(spec, s.pools).kind !== 'rolling') s.instances.push({ id: s.canary!.version, release: s.canary! });
}

export function stepDone(spec: RolloutSpec, s: RolloutStatus, at: number): boolean {
  const step = planOf(spec, s.pools).steps[s.step]!;
  const settled = s.appliedSeq === s.trafficSeq;
  if (step.scale) return scaled(s, step.scale);
  if (step.pause) return s.pauseUntil !== undefined && at >= s.pauseUntil && settled;
  if (step.analysis) {
    const mine = s.analyses.filter((a) => a.scope === 'step' && a.step === s.step && a.endedAt === undefined);
    const done = s.analyses.filter((a) => a.scope === 'step' && a.step === s.step);
    const latest = step.analysis.templates.map((t) => done.filter((a) => a.template === t).at(-1));
    return mine.length === 0 && latest.every((a) => a?.verdict === 'Successful' || a?.accepted) && settled;
  }
  if (step.baseline) {
    const id = baselineId(s);
    if (!s.ready.includes(id)) return false;
    if (s.traffic.baseline !== id)
      setTraffic(s, {
        ...s.traffic,
        baseline: id,
        weights: { ...s.traffic.weights, baseline: baselineWeight(s.traffic.weights.canary) },
      });
    return s.appliedSeq === s.trafficSeq;
  }
  return settled;
}

export function nextStep(spec: RolloutSpec, s: RolloutStatus, at: number, out: RolloutAction[]): void {
  s.step++;
  enterStep(spec, s, at, out);
}

export function enterStep(spec: RolloutSpec, s: RolloutStatus, at: number, out: RolloutAction[]): void {
  const plan = planOf(spec, s.pools);
  delete s.pauseUntil;
  s.stepStartedAt = at;
  s.waitingSince = at;
  const background = plan.background;
  const bgRunning = s.analyses.some((a) => a.scope === 'background' && a.endedAt === undefined);
  if (
    background &&
    s.step >= background.from &&
    s.step < background.until &&
    !s.analyses.some((a) => a.scope === 'background')
  ) {
    startAnalyses(s, background.templates, 'background', at);
  } else if (background && bgRunning && s.step >= background.until && s.step < plan.steps.length) {
    stopAnalyses(
      s,
      at,
      'background',
      'the blue-green switch ended the pre-promotion analysis: every user is on the new version, so there is nothing left to compare',
    );
  }
  if (s.step >= plan.steps.length) {
    if (plan.promotionAt < plan.steps.length || !gated(spec, s, 'confirm-promotion', at))
      beginPromotion(s, at, out, false);
    return;
  }
  const step = plan.steps[s.step]!;
  if (gated(spec, s, 'rollout', at)) return;
  if (s.step === plan.promotionAt && gated(spec, s, 'confirm-promotion', at)) return;
  const weight = step.scale ? weightFor(step.scale.canary, step.scale.stable) : step.setWeight;
  if (weight !== undefined && weight > s.traffic.weights.canary && gated(spec, s, 'confirm-traffic-increase', at))
    return;
  const first = s.traffic.weights.canary === 0 && step.setWeight !== undefined;
  s.message = `step ${s.step + 1}/${plan.steps.length}: ${describeStep(step)}`;
  out.push({ type: 'announce', moment: 'rollout', message: `${s.canary!.version} ${s.message}` });
  if (step.scale) {
    if (step.scale.canary > 0) setCount(s, s.canary!, step.scale.canary);
    s.phase = 'IncreaseTraffic';
  } else if (step.setWeight !== undefined) {
    const w = step.setWeight;
    setTraffic(s, {
      ...s.traffic,
      canary: s.canary!.version,
      weights: { canary: w, baseline: s.traffic.baseline ? baselineWeight(w) : 0 },
    });
    s.phase = first ? 'SmallTraffic' : 'IncreaseTraffic';
  } else if (step.pause) {
    if (step.pause.duration === undefined) {
      s.phase = 'Paused';
      s.paused = { reason: 'step', at, message: 'waiting for `kanari promote`' };
    } else {
      s.phase = 'Monitor';
      s.pauseUntil = at + step.pause.duration;
    }
  } else if (step.analysis) {
    s.phase = 'Monitor';
    startAnalyses(s, step.analysis.templates, 'step', at);
  } else if (step.setHeaderRoute) {
    const m = step.setHeaderRoute.match;
    setTraffic(s, { ...s.traffic, canary: s.canary!.version, routes: m ? [m] : [] });
    s.phase = 'IncreaseTraffic';
  } else if (step.setMirror) {
    setTraffic(s, { ...s.traffic, canary: s.canary!.version, mirror: step.setMirror.percent ?? 0 });
    s.phase = 'IncreaseTraffic';
  } else if (step.baseline) {
    const id = baselineId(s);
    if (!s.instances.some((i) => i.id === id))
      s.instances.push({ id, release: { version: s.stable.version, target: spec.baseline ?? s.stable.target } });
    s.phase = 'IncreaseTraffic';
  }
}

export function pauseFor(
  s: RolloutStatus,
  reason: 'manual' | 'inconclusive' | 'stopped',
  at: number,
  message: string,
  analysis?: 'step' | 'background',
): void {
  s.paused = {
    reason,
    at,
    resumePhase: s.phase,
    ...(s.pauseUntil !== undefined ? { remaining: Math.max(0, s.pauseUntil - at) } : {}),
    ...(analysis ? { analysis } : {}),
    message,
  };
  delete s.pauseUntil;
  s.phase = 'Paused';
}

/** Back to what the step was doing before the pause, with a timed pause's remaining time. */
export function restore(s: RolloutStatus, p: PauseState, at: number): void {
  s.phase = p.resumePhase ?? 'Monitor';
  if (p.remaining !== undefined) s.pauseUntil = at + p.remaining;
  if (WAITING.has(s.phase)) s.waitingSince = at;
}
