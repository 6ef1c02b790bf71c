/**
 * Promoting: every user to the new version, then it becomes stable, then (after
 * scaleDownDelay) the old one stops.
 */
import type { RolloutSpec } from '../../config/schemas/rollout.js';
import { formatDuration } from '../../config/duration.js';
import { planOf } from '../strategies/index.js';
import { endAnalyses } from './analyses.js';
import { fullSize, setCount, setTraffic, stableOnly } from './capacity.js';
import { finish, stopAllBut } from './rollback.js';
import type { RolloutAction, RolloutStatus } from '../types.js';

export function beginPromotion(s: RolloutStatus, at: number, out: RolloutAction[], full: boolean): void {
  endAnalyses(s, at, 'the rollout reached promotion');
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

export function advancePromotion(
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
