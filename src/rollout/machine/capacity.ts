/**
 * What runs and what it is sent: instance counts (a target's `size`, or a rolling wave's
 * count), the traffic state and its sequence number, and a baseline's share.
 */
import { weightFor } from '../strategies/rolling.js';
import type { Release, RolloutStatus, TrafficState } from '../types.js';

/** How many processes an instance should run: its count during a rolling update, else its release's full size. */
export function countOf(i: { count?: number; release: Release }): number {
  return i.count ?? fullSize(i.release);
}

export function fullSize(release: Release): number {
  return release.target.size;
}

/** Asks for `count` processes of a release (starting it if it does not run); it is not ready until they are. */
export function setCount(s: RolloutStatus, release: Release, count: number): void {
  const id = release.version;
  const inst = s.instances.find((i) => i.id === id);
  if (!inst) s.instances.push({ id, release, count });
  else if (countOf(inst) !== count) inst.count = count;
  else return;
  s.ready = s.ready.filter((r) => r !== id);
}

/**
 * A rolling wave: once the new instances are up, traffic follows the instance counts, and
 * only after the router applied that are old instances stopped (the last ones go with the
 * promotion).
 */
export function scaled(s: RolloutStatus, want: { canary: number; stable: number }): boolean {
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

export function setTraffic(s: RolloutStatus, next: TrafficState): void {
  if (JSON.stringify(next) === JSON.stringify(s.traffic)) return;
  s.traffic = next;
  s.trafficSeq++;
}

export function stableOnly(stable: string): TrafficState {
  return { stable, weights: { canary: 0, baseline: 0 }, routes: [], mirror: 0 };
}

export function baselineId(s: RolloutStatus): string {
  return `${s.stable.version}-baseline`;
}

/** The baseline gets the canary's share while stable keeps at least as much as it. */
export function baselineWeight(canary: number): number {
  return Math.min(canary, Math.floor(((100 - canary) / 2) * 100) / 100);
}
