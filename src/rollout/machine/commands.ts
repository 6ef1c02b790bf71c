/** What a person asks for: deploy (and retry, undo), promote, resume. Each returns why it is refused, if it is. */
import type { RolloutSpec } from '../../config/schemas/rollout.js';
import { planOf } from '../strategies/index.js';
import { stopAnalyses, inconclusiveEntries, startAnalyses } from './analyses.js';
import { countOf, fullSize } from './capacity.js';
import { gated } from './gates.js';
import { releaseHold } from './hold.js';
import { IN_FLIGHT } from './phases.js';
import { beginPromotion } from './promotion.js';
import { enterStep, nextStep, restore, startCanary } from './steps.js';
import type { Release, RolloutAction, RolloutStatus } from '../types.js';

/** Starts a rollout of `release`; `missing` is the refusal when there is none (retry, undo with nothing to go back to). */
export function deploy(
  spec: RolloutSpec,
  s: RolloutStatus,
  release: Release | undefined,
  at: number,
  out: RolloutAction[],
  missing = 'no release to deploy',
): string | undefined {
  if (s.phase !== 'StableOnly' && s.phase !== 'Aborted')
    return `a rollout of ${s.canary?.version} is in phase ${s.phase}; abort it or wait for it to end`;
  if (!release) return missing;
  if (release.version === s.stable.version) return `${release.version} is already the stable version`;
  s.revision++;
  s.canary = release;
  s.phase = 'CanaryDeploy';
  s.deployedAt = at;
  s.step = 0;
  s.analyses = [];
  s.waitingSince = at;
  delete s.result;
  delete s.paused;
  delete s.pauseUntil;
  delete s.passedGates;
  delete s.pools;
  if (spec.strategy.rolling) {
    const stable = s.instances.find((i) => i.id === s.stable.version);
    s.pools = { from: stable ? countOf(stable) : 0, to: fullSize(release) };
  }
  s.message = `starting ${release.version}`;
  out.push({
    type: 'announce',
    moment: 'pre-rollout',
    message: `rolling out ${release.version} to replace ${s.stable.version}`,
  });
  if (!gated(spec, s, 'confirm-rollout', at)) startCanary(spec, s);
  return undefined;
}

export function promote(
  spec: RolloutSpec,
  s: RolloutStatus,
  full: boolean,
  at: number,
  out: RolloutAction[],
): string | undefined {
  const starting = s.instances.some((i) => i.id === s.canary?.version) && !s.ready.includes(s.canary!.version);
  if (s.phase === 'CanaryDeploy' && starting) return `${s.canary?.version} is not ready yet`;
  if (s.gate?.type === 'confirm-rollout') return `${s.canary?.version} has not been started: ${s.gate.message}`;
  if (s.phase === 'FullDeploy') return 'already promoting';
  if (!IN_FLIGHT.has(s.phase)) return 'no rollout is in progress';
  if (full) {
    stopAnalyses(s, at, 'all', 'skipped by promote --full');
    delete s.paused;
    beginPromotion(s, at, out, true);
    return undefined;
  }
  if (s.gate) return `${s.gate.message}; \`kanari promote --full\` skips it and every step after it`;
  const p = s.paused;
  const underneath = p?.resumePhase ?? s.phase;
  if (underneath === 'SmallTraffic' || underneath === 'IncreaseTraffic')
    return `traffic is still moving for step ${s.step + 1}; try again in a moment`;
  if (p?.reason === 'stopped')
    return `${p.message}: no step passes on a Stopped analysis; \`kanari resume\` runs it again, \`kanari promote --full\` skips it and every step after it`;
  if (p?.reason === 'inconclusive') {
    // A person looked at an Inconclusive verdict and accepts it.
    // Accepting one verdict is not skipping the step: its other analyses still have to pass.
    for (const a of inconclusiveEntries(spec, s)) a.accepted = true;
    delete s.paused;
    restore(s, p, at);
    return undefined;
  }
  if (
    planOf(spec, s.pools).steps[s.step]?.analysis &&
    s.analyses.some((a) => a.scope === 'step' && a.step === s.step && a.endedAt === undefined)
  ) {
    return `step ${s.step + 1} is an analysis: it ends on its verdict (\`kanari promote --full\` skips it and every step after it)`;
  }
  releaseHold(s);
  delete s.paused;
  nextStep(spec, s, at, out);
  return undefined;
}

export function resume(spec: RolloutSpec, s: RolloutStatus, at: number, out: RolloutAction[]): string | undefined {
  const p = s.paused;
  if (s.phase !== 'Paused' || !p) return 'not paused';
  releaseHold(s);
  delete s.paused;
  if (p.reason === 'step') {
    nextStep(spec, s, at, out);
  } else if (p.reason === 'manual') {
    restore(s, p, at);
  } else if (p.analysis === 'background') {
    const bg = planOf(spec, s.pools).background;
    if (bg && s.step < bg.until) startAnalyses(s, bg.templates, 'background', at);
    restore(s, p, at);
  } else {
    enterStep(spec, s, at, out);
  }
  if (s.phase !== 'Paused') s.message = `resumed at step ${s.step + 1}`;
  return undefined;
}
