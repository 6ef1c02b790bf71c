/**
 * What a Simulation says about the world: how each version behaves over time, and how
 * many requests arrive each second and where the routing table sends them.
 */
import type { SimulationSpec } from '../config/schemas/simulation.js';
import type { TrafficState } from '../rollout/types.js';
import type { VersionWindow } from '../analysis/judges/sequential/window.js';
import type { Random } from '../analysis/stats/random.js';
import { sampleVersion, SyntheticLatency, type VersionBehaviour } from './traffic.js';
import type { TrafficSecond } from './source.js';
import { splitShares } from '../rollout/shares.js';

export function toBehaviour(b: { errorRate: number; latency: { median: number; sigma: number } }): VersionBehaviour {
  return { errorRate: b.errorRate, latency: { median: b.latency.median / 1000, sigma: b.latency.sigma } };
}

/** The canary's behaviour at each change point, from the spec (seconds since the deploy). */
export function canaryAt(spec: SimulationSpec): (second: number) => VersionBehaviour {
  const initial = toBehaviour(spec.canary ?? spec.stable);
  const changes = [...(spec.canary?.changes ?? [])].sort((a, b) => a.at - b.at);
  const states: { from: number; behaviour: VersionBehaviour }[] = [{ from: 0, behaviour: initial }];
  for (const c of changes) {
    const prev = states.at(-1)!.behaviour;
    states.push({
      from: c.at / 1000,
      behaviour: {
        errorRate: c.errorRate ?? prev.errorRate,
        latency: c.latency ? { median: c.latency.median / 1000, sigma: c.latency.sigma } : prev.latency,
      },
    });
  }
  return (second) => {
    let current = states[0]!.behaviour;
    for (const s of states) if (s.from <= second) current = s.behaviour;
    return current;
  };
}

export function worse(canary: VersionBehaviour, stable: VersionBehaviour): boolean {
  return (
    canary.errorRate > stable.errorRate ||
    canary.latency.median > stable.latency.median ||
    canary.latency.sigma > stable.latency.sigma
  );
}

/** Where a routing table sends users: the share of requests each role gets. */
export function sharesOf(t: TrafficState, matching: number): { canary: number; baseline: number } {
  const routed = t.canary !== undefined && t.routes.length > 0 ? matching : 0;
  const canary = t.canary !== undefined ? t.weights.canary / 100 : 0;
  const baseline = t.baseline !== undefined ? t.weights.baseline / 100 : 0;
  return { canary: routed + (1 - routed) * canary, baseline: (1 - routed) * baseline };
}

/** Generates second `t` of traffic; a sticky burst that started earlier is carried in `burst`. */
export class TrafficGenerator {
  private burst: { role: 'canary' | 'stable'; until: number } | undefined;

  constructor(
    private readonly spec: SimulationSpec,
    private readonly random: Random,
  ) {}

  /** `canary` and `stable` are how the versions behind those roles behave this second. */
  second(t: number, table: TrafficState, canary: VersionBehaviour, stable: VersionBehaviour): TrafficSecond {
    const { random } = this;
    const traffic = this.spec.traffic;
    const d = traffic.diurnal;
    const rate = traffic.rate * (d ? 1 + d.amplitude * Math.sin((2 * Math.PI * t) / (d.period / 1000)) : 1);
    const shares = sharesOf(table, traffic.matching ?? 0);
    const canaryWindow = sampleVersion(random, random.poisson(rate * shares.canary), canary);
    const stableWindow = sampleVersion(random, random.poisson(rate * (1 - shares.canary - shares.baseline)), stable);
    const baselineWindow =
      shares.baseline > 0 ? sampleVersion(random, random.poisson(rate * shares.baseline), stable) : undefined;
    const b = traffic.bursts;
    if (b) {
      if (t % Math.round(b.every / 1000) === 0 && t > 0)
        this.burst = {
          role: random.uniform() < shares.canary ? 'canary' : 'stable',
          until: t + Math.round(b.duration / 1000),
        };
      if (this.burst && t < this.burst.until) {
        const on = this.burst.role === 'canary';
        addBurst(random, on ? canaryWindow : stableWindow, b.rate, b.errorRate, on ? canary : stable);
      }
    }
    const split = splitShares(table);
    return {
      canary: canaryWindow,
      stable: stableWindow,
      ...(baselineWindow ? { baseline: baselineWindow } : {}),
      ...(split !== undefined ? { shares: split } : {}),
    };
  }
}

function addBurst(
  random: Random,
  window: VersionWindow,
  rate: number,
  errorRate: number | undefined,
  behaviour: VersionBehaviour,
): void {
  const n = random.poisson(rate);
  window.requests += n;
  window.errors += random.binomial(n, errorRate ?? behaviour.errorRate);
  window.latency = new SyntheticLatency(random, window.requests, behaviour.latency.median, behaviour.latency.sigma);
}
