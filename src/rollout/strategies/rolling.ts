/**
 * rolling as steps: waves that start up to `maxSurge` new instances, move traffic in
 * proportion to the instances, and then stop old ones, never leaving fewer than
 * size − `maxUnavailable` serving. The last old instances stop with the promotion.
 */
import { resolveCount, type RollingStrategy } from '../../config/schemas/rollout.js';
import { formatDuration } from '../../config/duration.js';
import type { Plan, PlanStep } from './plan.js';

export function rollingSteps(r: RollingStrategy, oldSize: number, size: number): Plan {
  const surge = resolveCount(r.maxSurge, size, 'up');
  const unavailable = resolveCount(r.maxUnavailable, size, 'down');
  const steps: PlanStep[] = [];
  let fresh = 0;
  let old = oldSize;
  for (let wave = 1; fresh < size; wave++) {
    const nextFresh = Math.max(fresh, Math.min(size, size + surge - old));
    // Keep at least one instance serving while none of the new ones is up.
    const nextOld =
      nextFresh >= size ? 0 : Math.max(nextFresh > 0 ? 0 : 1, Math.min(old, size - unavailable - nextFresh));
    if (nextFresh === fresh && nextOld === old)
      throw new Error(`rolling update cannot progress from ${fresh} new and ${old} old instances`);
    if (wave > 1 && r.minReady > 0 && nextFresh > fresh)
      steps.push({
        pause: { duration: r.minReady },
        label: `let the new instances serve for ${formatDuration(r.minReady)} (minReady)`,
      });
    steps.push({
      scale: { canary: nextFresh, stable: nextOld },
      label: `wave ${wave}: ${nextFresh} of ${size} new instance${size === 1 ? '' : 's'}, ${nextOld} old`,
    });
    fresh = nextFresh;
    old = nextOld;
  }
  return {
    kind: 'rolling',
    steps,
    ...(r.analysis ? { background: { templates: r.analysis.templates, from: 0, until: steps.length } } : {}),
    scaleDownDelay: 0,
    promotionAt: steps.length,
  };
}

/** The new version's share when traffic follows the instances, in the router's 0.01 % steps. */
export function weightFor(fresh: number, old: number): number {
  return fresh + old === 0 ? 0 : Math.round((10_000 * fresh) / (fresh + old)) / 100;
}
