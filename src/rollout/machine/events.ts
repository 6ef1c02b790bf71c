/** Folding one event into the status: acknowledgements from the world, verdicts, webhooks and commands. */
import type { RolloutSpec } from '../../config/schemas/rollout.js';
import { formatDuration } from '../../config/duration.js';
import { deploy, promote, resume } from './commands.js';
import { stopAnalyses } from './analyses.js';
import { DEGRADED_AFTER, IN_FLIGHT, WAITING } from './phases.js';
import { hold } from './hold.js';
import { beginRollback } from './rollback.js';
import { enterStep, pauseFor, startCanary } from './steps.js';
import type { AnalysisEntry, RolloutAction, RolloutEvent, RolloutStatus } from '../types.js';

/** Folds one event into `s`; returns a reason when the event is refused. */
export function apply(spec: RolloutSpec, s: RolloutStatus, e: RolloutEvent, out: RolloutAction[]): string | undefined {
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
    case 'stopAnalyses':
      stopAnalyses(s, e.at, 'all', e.reason);
      return undefined;
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
    case 'setWeight':
      return hold(spec, s, e.weight, e.reason, e.at);
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
  if (!entry) return undefined;
  if (entry.endedAt !== undefined) {
    // The final verdict of a run the rollout ended at promotion: recorded, acted on no more.
    if (entry.verdict === 'Running' && v !== 'Running') Object.assign(entry, { verdict: v, reason });
    return undefined;
  }
  entry.verdict = v;
  entry.reason = reason;
  if (v === 'Running') return undefined;
  entry.endedAt = at;
  if (IN_FLIGHT.has(s.phase) && (v === 'Failed' || v === 'Error'))
    beginRollback(s, at, 'RolledBack', `analysis ${entry.template} is ${v}: ${reason}`, out);
  // Inconclusive is noticed in `settle`, so a verdict that lands during a manual pause still pauses after it.
  return undefined;
}

function waitingFor(s: RolloutStatus): string {
  if (s.phase === 'CanaryDeploy') return `waiting for ${s.canary?.version} to become ready`;
  if (s.appliedSeq !== s.trafficSeq) return 'waiting for the router to apply the new weights';
  return `in phase ${s.phase}`;
}
