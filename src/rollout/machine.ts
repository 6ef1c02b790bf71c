/**
 * The rollout state machine: (spec, status, event) → (status, actions). No I/O, no clock.
 *
 * The status says what should be true — which instances run, what the data plane does,
 * which analyses run — and the engine makes it so and reports back with events
 * (`instanceReady`, `trafficApplied` with the sequence number it applied, verdicts). The
 * machine moves on only when the world has caught up, so a restarted controller just
 * makes the saved status true again and carries on.
 *
 *   StableOnly → CanaryDeploy → SmallTraffic → Monitor ⇄ IncreaseTraffic → FullDeploy → StableOnly
 *   any of those → Rollback → StableOnly (Aborted when a person or a deadline stopped it);
 *   Degraded while a rollback cannot move traffic; Paused by a person, a `pause: {}` step
 *   or an Inconclusive analysis.
 */
import type { RolloutSpec } from '../config/schemas/rollout.js';
import { formatDuration } from '../config/duration.js';
import { planOf, type PlanStep } from './strategies/index.js';
import { weightFor } from './strategies/rolling.js';
import type {
  AnalysisEntry,
  GateState,
  PauseState,
  Phase,
  Release,
  RolloutAction,
  RolloutEvent,
  RolloutStatus,
  TrafficState,
  Transition,
} from './types.js';

/** Phases in which a canary is in flight (a person can pause or abort; a failed verdict rolls back). */
const IN_FLIGHT: ReadonlySet<Phase> = new Set([
  'CanaryDeploy',
  'SmallTraffic',
  'Monitor',
  'IncreaseTraffic',
  'FullDeploy',
  'Paused',
]);
/** Phases that wait on the world and so count against the progress deadline. */
const WAITING: ReadonlySet<Phase> = new Set(['CanaryDeploy', 'SmallTraffic', 'IncreaseTraffic', 'FullDeploy']);
/** Traffic failures in a row before a rollback is reported as Degraded. */
const DEGRADED_AFTER = 3;

export function initialStatus(spec: RolloutSpec, at: number): RolloutStatus {
  const stable: Release = { version: spec.stable.version ?? 'stable', target: spec.stable };
  return {
    phase: 'StableOnly',
    revision: 0,
    stable,
    step: 0,
    instances: [{ id: stable.version, release: stable }],
    ready: [],
    stopping: [],
    traffic: stableOnly(stable.version),
    trafficSeq: 1,
    appliedSeq: 0,
    analyses: [],
    message: `${stable.version} serves everyone`,
    updatedAt: at,
  };
}

export function transition(spec: RolloutSpec, status: RolloutStatus, event: RolloutEvent): Transition {
  const s = structuredClone(status);
  const out: RolloutAction[] = [];
  const refusal = apply(spec, s, event, out);
  if (refusal !== undefined) return { status, actions: [], rejected: refusal };
  settle(spec, s, event.at, out);
  s.updatedAt = event.at;
  return { status: s, actions: out };
}

/** Folds one event into `s`; returns a reason when the event is refused. */
function apply(spec: RolloutSpec, s: RolloutStatus, e: RolloutEvent, out: RolloutAction[]): string | undefined {
  switch (e.type) {
    case 'deploy':
      return deploy(spec, s, e.release, e.at, out);
    case 'tick':
      // A gate waits on a person or a check with its own timeout, not on the world.
      if (
        WAITING.has(s.phase) &&
        !s.gate &&
        s.waitingSince !== undefined &&
        e.at - s.waitingSince > spec.progressDeadline
      ) {
        beginRollback(
          s,
          e.at,
          'Aborted',
          `no progress for ${formatDuration(spec.progressDeadline)} (progressDeadline) while ${waitingFor(s)}`,
          out,
        );
      }
      return undefined;
    case 'trafficApplied':
      if (e.seq > s.appliedSeq && e.seq <= s.trafficSeq) s.appliedSeq = e.seq;
      if (s.rollback) s.rollback.failures = 0;
      return undefined;
    case 'trafficFailed':
      if (s.rollback && e.seq === s.trafficSeq) {
        s.rollback.failures++;
        if (s.rollback.failures >= DEGRADED_AFTER && s.phase === 'Rollback') {
          s.phase = 'Degraded';
          s.message = `cannot move traffic back to ${s.stable.version}: ${e.reason}; still trying`;
          out.push({ type: 'announce', moment: 'event', message: s.message });
        }
      }
      return undefined;
    case 'instanceReady':
      if (s.instances.some((i) => i.id === e.id) && !s.ready.includes(e.id)) s.ready.push(e.id);
      return undefined;
    case 'instanceFailed':
      s.ready = s.ready.filter((id) => id !== e.id);
      if (IN_FLIGHT.has(s.phase) && e.id !== s.stable.version && s.instances.some((i) => i.id === e.id)) {
        beginRollback(s, e.at, 'RolledBack', `${e.id} failed: ${e.reason}`, out);
      }
      return undefined;
    case 'instanceStopped':
      s.stopping = s.stopping.filter((id) => id !== e.id);
      s.ready = s.ready.filter((id) => id !== e.id);
      return undefined;
    case 'analysisVerdict':
      return verdict(s, e.id, e.verdict, e.reason, e.at, out);
    case 'webhook':
      webhook(spec, s, e, out);
      return undefined;
    case 'promote':
      return promote(spec, s, e.full ?? false, e.at, out);
    case 'abort':
      if (!IN_FLIGHT.has(s.phase)) return s.rollback ? 'a rollback is already under way' : 'no rollout is in progress';
      if (s.promotion === 'switch' || s.promotion === 'cleanup')
        return `${s.stable.version} is already stable; \`kanari undo\` brings back ${s.previous?.version}`;
      beginRollback(s, e.at, 'Aborted', e.reason ?? 'aborted by a person', out);
      return undefined;
    case 'pause':
      if (s.phase === 'Paused') return 'already paused';
      if (!IN_FLIGHT.has(s.phase) || s.phase === 'FullDeploy') return `cannot pause in phase ${s.phase}`;
      pauseFor(s, 'manual', e.at, 'paused by a person');
      s.message = `paused at step ${s.step + 1}; \`kanari resume\` goes on`;
      return undefined;
    case 'resume':
      return resume(spec, s, e.at, out);
    case 'retry':
      return deploy(
        spec,
        s,
        s.result?.outcome === 'Promoted' ? undefined : s.result?.release,
        e.at,
        out,
        'nothing to retry: the last rollout was not rolled back',
      );
    case 'undo':
      return deploy(spec, s, s.previous, e.at, out, 'nothing to undo: no earlier stable version is known');
  }
}

/** Starts a rollout of `release`; `missing` is the refusal when there is none (retry, undo with nothing to go back to). */
function deploy(
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

/** A rolling update starts the new version's instances wave by wave instead. */
function startCanary(spec: RolloutSpec, s: RolloutStatus): void {
  if (planOf(spec, s.pools).kind !== 'rolling') s.instances.push({ id: s.canary!.version, release: s.canary! });
}

/**
 * True when `type` webhooks must answer before the rollout goes on: the status then says
 * it waits on them, and the engine asks them each interval.
 */
function gated(spec: RolloutSpec, s: RolloutStatus, type: GateState['type'], at: number): boolean {
  if (!spec.webhooks.some((w) => w.type === type)) return false;
  if (s.passedGates?.includes(`${type}@${s.step}`)) return false;
  if (s.gate?.type !== type || s.gate.step !== s.step) {
    const names = spec.webhooks
      .filter((w) => w.type === type)
      .map((w) => w.name)
      .join(', ');
    s.gate = { type, step: s.step, since: at, message: `waiting for the ${type} webhook (${names})` };
  }
  s.message = s.gate.message;
  return true;
}

/** What a gate's webhooks answered. A stale answer (another gate, a paused rollout) changes nothing. */
function webhook(
  spec: RolloutSpec,
  s: RolloutStatus,
  e: Extract<RolloutEvent, { type: 'webhook' }>,
  out: RolloutAction[],
): void {
  if (e.gate === 'rollback') {
    if (e.passed && IN_FLIGHT.has(s.phase) && s.promotion !== 'switch' && s.promotion !== 'cleanup')
      beginRollback(s, e.at, 'RolledBack', `the rollback webhook asked for it: ${e.reason}`, out);
    return;
  }
  const g = s.gate;
  if (!g || g.type !== e.gate || g.step !== e.step || s.phase === 'Paused') return;
  if (!e.passed) {
    if (g.type === 'pre-rollout' || g.type === 'rollout') {
      beginRollback(s, e.at, 'RolledBack', `the ${g.type} check failed: ${e.reason}`, out);
    } else {
      g.message = `waiting for the ${g.type} webhook: ${e.reason}`;
      s.message = g.message;
    }
    return;
  }
  delete s.gate;
  (s.passedGates ??= []).push(`${g.type}@${g.step}`);
  s.waitingSince = e.at;
  // Every other gate stands before a step (or the promotion, at steps.length): enter it again, now past the gate.
  if (g.type === 'confirm-rollout') startCanary(spec, s);
  else enterStep(spec, s, e.at, out);
}

function verdict(
  s: RolloutStatus,
  id: string,
  v: AnalysisEntry['verdict'],
  reason: string,
  at: number,
  out: RolloutAction[],
): string | undefined {
  const entry = s.analyses.find((a) => a.id === id);
  if (!entry || entry.endedAt !== undefined) return undefined;
  entry.verdict = v;
  entry.reason = reason;
  if (v === 'Running') return undefined;
  entry.endedAt = at;
  if (IN_FLIGHT.has(s.phase) && (v === 'Failed' || v === 'Error'))
    beginRollback(s, at, 'RolledBack', `analysis ${entry.template} is ${v}: ${reason}`, out);
  // Inconclusive is noticed in `settle`, so a verdict that lands during a manual pause still pauses after it.
  return undefined;
}

function promote(
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
    endAnalyses(s, at, 'all', 'skipped by promote --full');
    delete s.paused;
    beginPromotion(s, at, out, true);
    return undefined;
  }
  if (s.gate) return `${s.gate.message}; \`kanari promote --full\` skips it and every step after it`;
  const p = s.paused;
  const underneath = p?.resumePhase ?? s.phase;
  if (underneath === 'SmallTraffic' || underneath === 'IncreaseTraffic')
    return `traffic is still moving for step ${s.step + 1}; try again in a moment`;
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
  delete s.paused;
  nextStep(spec, s, at, out);
  return undefined;
}

function resume(spec: RolloutSpec, s: RolloutStatus, at: number, out: RolloutAction[]): string | undefined {
  const p = s.paused;
  if (s.phase !== 'Paused' || !p) return 'not paused';
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

function pauseFor(
  s: RolloutStatus,
  reason: 'manual' | 'inconclusive',
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
function restore(s: RolloutStatus, p: PauseState, at: number): void {
  s.phase = p.resumePhase ?? 'Monitor';
  if (p.remaining !== undefined) s.pauseUntil = at + p.remaining;
  if (WAITING.has(s.phase)) s.waitingSince = at;
}

/** Ended Inconclusive, not yet accepted, and still the latest for its template: the analyses a person must look at. */
function inconclusiveEntries(spec: RolloutSpec, s: RolloutStatus): AnalysisEntry[] {
  const onStep = planOf(spec, s.pools).steps[s.step]?.analysis;
  return s.analyses.filter((a) => {
    if (a.verdict !== 'Inconclusive' || a.accepted || a.endedAt === undefined) return false;
    if (a.scope === 'step' && (!onStep || a.step !== s.step)) return false;
    const latest = s.analyses
      .filter(
        (b) => b.scope === a.scope && b.template === a.template && (a.scope === 'background' || b.step === a.step),
      )
      .at(-1);
    return latest === a;
  });
}

/** Carries the rollout forward as far as the world allows right now. */
function settle(spec: RolloutSpec, s: RolloutStatus, at: number, out: RolloutAction[]): void {
  for (let guard = 0; guard < 1000; guard++) {
    if (!advance(spec, s, at, out)) return;
  }
  throw new Error('rollout machine did not settle');
}

function advance(spec: RolloutSpec, s: RolloutStatus, at: number, out: RolloutAction[]): boolean {
  const settled = s.appliedSeq === s.trafficSeq;
  switch (s.phase) {
    case 'CanaryDeploy': {
      if (s.gate) return false;
      const id = s.canary!.version;
      if (s.instances.some((i) => i.id === id) && !s.ready.includes(id)) return false;
      s.step = 0;
      if (gated(spec, s, 'pre-rollout', at)) return false;
      enterStep(spec, s, at, out);
      return true;
    }
    case 'SmallTraffic':
    case 'IncreaseTraffic':
    case 'Monitor': {
      if (s.gate) return false;
      const stuck = inconclusiveEntries(spec, s)[0];
      if (stuck) {
        pauseFor(s, 'inconclusive', at, `analysis ${stuck.template} is Inconclusive: ${stuck.reason}`, stuck.scope);
        s.message = `${s.paused!.message}; \`kanari resume\` runs it again, \`kanari promote\` accepts it, \`kanari abort\` rolls back`;
        out.push({ type: 'announce', moment: 'event', message: s.message });
        return false;
      }
      if (!stepDone(spec, s, at)) return false;
      nextStep(spec, s, at, out);
      return true;
    }
    case 'FullDeploy':
      return advancePromotion(spec, s, at, out, settled);
    case 'Rollback':
    case 'Degraded':
      return advanceRollback(s, at, out, settled);
    default:
      return false;
  }
}

function stepDone(spec: RolloutSpec, s: RolloutStatus, at: number): boolean {
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

function nextStep(spec: RolloutSpec, s: RolloutStatus, at: number, out: RolloutAction[]): void {
  s.step++;
  enterStep(spec, s, at, out);
}

function enterStep(spec: RolloutSpec, s: RolloutStatus, at: number, out: RolloutAction[]): void {
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
    endAnalyses(
      s,
      at,
      'background',
      'ended at the switch: every user is on the new version, so there is nothing left to compare',
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

export function describeStep(step: PlanStep): string {
  if (step.label) return step.label;
  if (step.setWeight !== undefined) return `send ${step.setWeight}% of users to the canary`;
  if (step.pause)
    return step.pause.duration === undefined ? 'pause until promoted' : `wait ${formatDuration(step.pause.duration)}`;
  if (step.analysis) return `analysis (${step.analysis.templates.join(', ')})`;
  if (step.setHeaderRoute) {
    const m = step.setHeaderRoute.match;
    if (!m) return 'remove the header route';
    return `route ${m.header ? `header ${m.header}` : `cookie ${m.cookie}`} ${m.value !== undefined ? `= ${m.value}` : m.prefix !== undefined ? `starting ${m.prefix}` : `~ /${m.regex}/`} to the canary`;
  }
  if (step.setMirror)
    return step.setMirror.percent ? `mirror ${step.setMirror.percent}% of requests to the canary` : 'stop mirroring';
  return 'start a baseline copy of stable';
}

function startAnalyses(
  s: RolloutStatus,
  templates: readonly string[],
  scope: AnalysisEntry['scope'],
  at: number,
): void {
  for (const template of templates) {
    const prefix = scope === 'step' ? `r${s.revision}-s${s.step + 1}-${template}` : `r${s.revision}-bg-${template}`;
    const attempt = s.analyses.filter((a) => a.id.startsWith(`${prefix}-`)).length + 1;
    s.analyses.push({ id: `${prefix}-${attempt}`, template, scope, step: s.step, verdict: 'Running', startedAt: at });
  }
}

function endAnalyses(s: RolloutStatus, at: number, scope: AnalysisEntry['scope'] | 'all', reason: string): void {
  for (const a of s.analyses) {
    if (a.endedAt === undefined && (scope === 'all' || a.scope === scope)) {
      a.endedAt = at;
      a.reason = reason;
    }
  }
}

function beginPromotion(s: RolloutStatus, at: number, out: RolloutAction[], full: boolean): void {
  endAnalyses(s, at, 'all', 'the rollout reached promotion');
  delete s.gate;
  s.phase = 'FullDeploy';
  s.promotion = 'weight';
  // A rolling update promoted part-way: the new version grows to its full size (or starts) before the old one goes.
  setCount(s, s.canary!, fullSize(s.canary!));
  delete s.instances.find((i) => i.id === s.canary!.version)!.count;
  s.fullPromotion = full;
  s.waitingSince = at;
  delete s.pauseUntil;
  setTraffic(s, {
    stable: s.stable.version,
    canary: s.canary!.version,
    weights: { canary: 100, baseline: 0 },
    routes: [],
    mirror: 0,
  });
  s.message = `promoting ${s.canary!.version}: all users to it`;
  out.push({ type: 'announce', moment: 'event', message: s.message });
}

function advancePromotion(
  spec: RolloutSpec,
  s: RolloutStatus,
  at: number,
  out: RolloutAction[],
  settled: boolean,
): boolean {
  if (!settled) return false;
  if (s.promotion === 'weight') {
    if (s.instances.some((i) => i.id === s.canary!.version) && !s.ready.includes(s.canary!.version)) return false;
    s.previous = s.stable;
    s.stable = s.canary!;
    delete s.canary;
    setTraffic(s, stableOnly(s.stable.version));
    s.promotion = 'switch';
    return true;
  }
  if (s.promotion === 'switch') {
    // The old version stays up for scaleDownDelay, so a switch that went wrong in the network can be undone quickly.
    if (s.scaleDownAt === undefined) {
      s.scaleDownAt = at + planOf(spec, s.pools).scaleDownDelay;
      // Said once, not counted down: the message goes to the log on every change.
      if (at < s.scaleDownAt)
        s.message = `${s.stable.version} serves everyone; ${s.previous?.version} stops in ${formatDuration(s.scaleDownAt - at)} (scaleDownDelay)`;
    }
    if (at < s.scaleDownAt) return false;
    stopAllBut(s, s.stable.version);
    s.promotion = 'cleanup';
    return true;
  }
  if (s.stopping.length > 0) return false;
  const version = s.stable.version;
  s.result = {
    outcome: 'Promoted',
    release: s.stable,
    reason: s.fullPromotion ? 'promoted by a person (promote --full)' : 'every step passed',
    at,
  };
  finish(s, 'StableOnly', `${version} is stable and serves everyone`);
  out.push({ type: 'announce', moment: 'post-rollout', message: `${version} promoted: ${s.result.reason}` });
  return true;
}

function beginRollback(
  s: RolloutStatus,
  at: number,
  outcome: 'RolledBack' | 'Aborted',
  reason: string,
  out: RolloutAction[],
): void {
  endAnalyses(s, at, 'all', `stopped: ${reason}`);
  // A promotion that already switched stable has nothing left to roll back to but the new version.
  if (s.promotion === 'switch' || s.promotion === 'cleanup') return;
  s.phase = 'Rollback';
  s.rollback = { outcome, reason, failures: 0 };
  delete s.paused;
  delete s.pauseUntil;
  delete s.promotion;
  delete s.gate;
  s.waitingSince = at;
  setTraffic(s, stableOnly(s.stable.version));
  // A rolling update that already stopped old instances starts them again; the ones left take everyone meanwhile.
  const stable = s.instances.find((i) => i.id === s.stable.version);
  if (stable?.count !== undefined) {
    delete stable.count;
    s.ready = s.ready.filter((id) => id !== stable.id);
  }
  s.message = `rolling back ${s.canary?.version}: ${reason}`;
  out.push({ type: 'announce', moment: 'rollback', message: s.message });
}

function advanceRollback(s: RolloutStatus, at: number, out: RolloutAction[], settled: boolean): boolean {
  // Traffic first: the canary is stopped only once the data plane no longer sends it anything.
  if (!settled) return false;
  if (s.phase === 'Degraded') s.phase = 'Rollback';
  if (s.instances.some((i) => i.id !== s.stable.version)) {
    stopAllBut(s, s.stable.version);
    return true;
  }
  if (s.stopping.length > 0 || !s.ready.includes(s.stable.version)) return false;
  const rb = s.rollback!;
  s.result = { outcome: rb.outcome, release: s.canary!, reason: rb.reason, at };
  delete s.canary;
  finish(
    s,
    rb.outcome === 'Aborted' ? 'Aborted' : 'StableOnly',
    `${s.result.release.version} ${rb.outcome === 'Aborted' ? 'aborted' : 'rolled back'}: ${rb.reason}; ${s.stable.version} serves everyone`,
  );
  out.push({ type: 'announce', moment: 'event', message: s.message });
  return true;
}

function finish(s: RolloutStatus, phase: Phase, message: string): void {
  s.phase = phase;
  s.message = message;
  s.step = 0;
  delete s.rollback;
  delete s.promotion;
  delete s.fullPromotion;
  delete s.gate;
  delete s.passedGates;
  delete s.scaleDownAt;
  delete s.waitingSince;
  delete s.stepStartedAt;
}

function stopAllBut(s: RolloutStatus, keep: string): void {
  for (const i of s.instances) if (i.id !== keep && !s.stopping.includes(i.id)) s.stopping.push(i.id);
  s.instances = s.instances.filter((i) => i.id === keep);
  s.ready = s.ready.filter((id) => id === keep);
}

/**
 * A rolling wave: once the new instances are up, traffic follows the instance counts, and
 * only after the router applied that are old instances stopped (the last ones go with the
 * promotion).
 */
function scaled(s: RolloutStatus, want: { canary: number; stable: number }): boolean {
  const canary = s.canary!.version;
  const stable = s.stable.version;
  if (want.canary > 0 && !s.ready.includes(canary)) return false;
  const sizes: Record<string, number> = {};
  if (want.canary > 0) sizes[canary] = want.canary;
  if (want.stable > 0) sizes[stable] = want.stable;
  setTraffic(s, {
    stable,
    ...(want.canary > 0 ? { canary } : {}),
    weights: { canary: weightFor(want.canary, want.stable), baseline: 0 },
    routes: [],
    mirror: 0,
    sizes,
  });
  if (s.appliedSeq !== s.trafficSeq) return false;
  const old = s.instances.find((i) => i.id === stable)!;
  if (want.stable > 0 && countOf(old) > want.stable) setCount(s, old.release, want.stable);
  return want.stable === 0 || s.ready.includes(stable);
}

/** How many processes an instance should run: its count during a rolling update, else its release's full size. */
export function countOf(i: { count?: number; release: Release }): number {
  return i.count ?? fullSize(i.release);
}

function fullSize(release: Release): number {
  return release.target.size;
}

/** Asks for `count` processes of a release (starting it if it does not run); it is not ready until they are. */
function setCount(s: RolloutStatus, release: Release, count: number): void {
  const id = release.version;
  const inst = s.instances.find((i) => i.id === id);
  if (!inst) s.instances.push({ id, release, count });
  else if (countOf(inst) !== count) inst.count = count;
  else return;
  s.ready = s.ready.filter((r) => r !== id);
}

function setTraffic(s: RolloutStatus, next: TrafficState): void {
  if (JSON.stringify(next) === JSON.stringify(s.traffic)) return;
  s.traffic = next;
  s.trafficSeq++;
}

export function stableOnly(stable: string): TrafficState {
  return { stable, weights: { canary: 0, baseline: 0 }, routes: [], mirror: 0 };
}

function baselineId(s: RolloutStatus): string {
  return `${s.stable.version}-baseline`;
}

/** The baseline gets the canary's share while stable keeps at least as much as it. */
export function baselineWeight(canary: number): number {
  return Math.min(canary, Math.floor(((100 - canary) / 2) * 100) / 100);
}

function waitingFor(s: RolloutStatus): string {
  if (s.phase === 'CanaryDeploy') return `waiting for ${s.canary?.version} to become ready`;
  if (s.appliedSeq !== s.trafficSeq) return 'waiting for the router to apply the new weights';
  return `in phase ${s.phase}`;
}
