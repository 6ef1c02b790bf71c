/** Analysis entries in the status: started for a step or in the background, ended, and those a person must look at. */
import type { RolloutSpec } from '../../config/schemas/rollout.js';
import { planOf } from '../strategies/index.js';
import type { AnalysisEntry, RolloutStatus } from '../types.js';

export function startAnalyses(
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

/** The rollout ends the running analyses before their verdicts: each is Stopped, with why (`reason`, after "stopped: "). */
export function stopAnalyses(
  s: RolloutStatus,
  at: number,
  scope: AnalysisEntry['scope'] | 'all',
  reason: string,
): void {
  for (const a of s.analyses) {
    if (a.endedAt === undefined && (scope === 'all' || a.scope === scope)) {
      a.endedAt = at;
      a.verdict = 'Stopped';
      a.reason = `stopped: ${reason}`;
    }
  }
}

/**
 * The rollout reached promotion: the background analyses it ran to the end are over, and
 * their judges give their final verdicts (the engine sends them; what was not shown is
 * Inconclusive).
 */
export function endAnalyses(s: RolloutStatus, at: number, reason: string): void {
  for (const a of s.analyses) {
    if (a.endedAt === undefined) {
      a.endedAt = at;
      a.reason = reason;
    }
  }
}

/** Ended Inconclusive, not yet accepted, and still the latest for its template: the analyses a person must look at. */
export function inconclusiveEntries(spec: RolloutSpec, s: RolloutStatus): AnalysisEntry[] {
  return latestEnded(spec, s, 'Inconclusive').filter((a) => !a.accepted);
}

/**
 * Stopped while the rollout still needs them (the current step's, or a background one
 * whose steps are not over): only `kanari down --all` leaves these, and a step cannot
 * advance on them, so the rollout pauses until a person runs them again.
 */
export function stoppedEntries(spec: RolloutSpec, s: RolloutStatus): AnalysisEntry[] {
  const background = planOf(spec, s.pools).background;
  return latestEnded(spec, s, 'Stopped').filter(
    (a) => a.scope === 'step' || (background !== undefined && s.step < background.until),
  );
}

function latestEnded(spec: RolloutSpec, s: RolloutStatus, verdict: AnalysisEntry['verdict']): AnalysisEntry[] {
  const onStep = planOf(spec, s.pools).steps[s.step]?.analysis;
  return s.analyses.filter((a) => {
    if (a.verdict !== verdict || a.endedAt === undefined) return false;
    if (a.scope === 'step' && (!onStep || a.step !== s.step)) return false;
    const latest = s.analyses
      .filter(
        (b) => b.scope === a.scope && b.template === a.template && (a.scope === 'background' || b.step === a.step),
      )
      .at(-1);
    return latest === a;
  });
}
