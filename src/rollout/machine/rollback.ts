/**
 * Rolling back: traffic to stable first, and only once the data plane took it are the
 * other instances stopped; then the rollout ends (`finish`, which a promotion ends with too).
 */
import { stopAnalyses } from './analyses.js';
import { setTraffic, stableOnly } from './capacity.js';
import type { Phase, RolloutAction, RolloutStatus } from '../types.js';

export function beginRollback(
  s: RolloutStatus,
  at: number,
  outcome: 'RolledBack' | 'Aborted',
  reason: string,
  out: RolloutAction[],
): void {
  stopAnalyses(s, at, 'all', reason);
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

export function advanceRollback(s: RolloutStatus, at: number, out: RolloutAction[], settled: boolean): boolean {
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

export function finish(s: RolloutStatus, phase: Phase, message: string): void {
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

export function stopAllBut(s: RolloutStatus, keep: string): void {
  for (const i of s.instances) if (i.id !== keep && !s.stopping.includes(i.id)) s.stopping.push(i.id);
  s.instances = s.instances.filter((i) => i.id === keep);
  s.ready = s.ready.filter((id) => id === keep);
}
