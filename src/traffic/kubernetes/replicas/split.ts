/**
 * A canary weight as pods: with `total` pods behind one Service, kube-proxy gives each
 * ready pod an equal share of new connections, so the canary's share is its share of pods.
 * Only weights that are a whole number of pods are done. An approximation (1 pod of 10 for
 * 5%) would not be what the judge is told is served: its sample-ratio guard compares the
 * split it sees with the one asked for, and would read the difference as a broken split.
 */

/** kanari's weights are in hundredths of a percent; a split closer than this is the weight asked for. */
const RESOLUTION = 0.01;

export interface PodSplit {
  canary: number;
  stable: number;
}

/** Each version's pods for `weight`, or why no whole number of `total` pods makes it. */
export function podsFor(weight: number, total: number): PodSplit | { problem: string } {
  if (!Number.isInteger(total) || total < 1) return { problem: `the rollout needs at least one pod (got ${total})` };
  const canary = Math.round((weight * total) / 100);
  if (Math.abs((canary * 100) / total - weight) > RESOLUTION + 1e-9) {
    const below = Math.floor((weight * total) / 100);
    const near = [below, below + 1].map((n) => `${share(n, total)}% (${n} pod${n === 1 ? '' : 's'})`);
    return {
      problem: `${weight}% of ${total} pods is ${Number(((weight * total) / 100).toFixed(3))} pods; the replicas router runs whole pods, so the nearest weights are ${near.join(' and ')}: ask for one of them, or for more replicas`,
    };
  }
  return { canary, stable: total - canary };
}

/** The canary's share of ready pods, in percent to kanari's resolution. */
export function share(canary: number, total: number): number {
  return total === 0 ? 0 : round2((canary * 100) / total);
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
