/**
 * What a Simulation says about the world: how each version behaves over time, and how
 * many requests arrive each second and where the routing table sends them.
 */
import type { SimulationSpec } from '../config/schemas/simulation.js';
import type { TrafficState } from '../rollout/types.js';
import type { VersionWindow } from '../analysis/judges/sequential/window.js';
import type { Random } from '../analysis/stats/random.js';
import { splitShares } from '../rollout/shares.js';
import { ARMS, bucketSplit, type Arm, type BucketSplit } from './buckets.js';
import { HeavyClient } from './clients.js';
import { SecondKeys } from './keys.js';
import { emptyArmKeys, Population, rateClasses, type ArmKeys } from './population.js';
import type { TrafficSecond } from './source.js';
import { MixedLatency, sampleVersion, SyntheticLatency, type VersionBehaviour } from './traffic.js';

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

type Windows = Partial<Record<Arm, VersionWindow>>;

/** Generates second `t` of traffic, with each version's keys; users and heavy clients keep their state between seconds. */
export class TrafficGenerator {
  private readonly population: Population | undefined;
  private readonly clients: HeavyClient[];
  /** Whether the key tracker holds anyone: a canary or baseline has buckets. */
  private live = false;
  private readonly tracked = new Set<number>();
  /** Canary requests this second that met a regression only some clients have, and the errors it added on average. */
  regressed = { requests: 0, extraErrors: 0 };

  constructor(
    private readonly spec: SimulationSpec,
    private readonly random: Random,
  ) {
    const { users, rate, bursts, clients } = spec.traffic;
    this.population = users && new Population(rateClasses(users.count, rate, users.shape), random);
    this.clients = (clients ?? []).map((c) => HeavyClient.of(c, random));
    if (bursts) this.clients.push(HeavyClient.burst(bursts, random));
  }

  /** `canary` and `stable` are how the versions behind those roles behave this second. */
  second(t: number, table: TrafficState, canary: VersionBehaviour, stable: VersionBehaviour): TrafficSecond {
    const traffic = this.spec.traffic;
    const d = traffic.diurnal;
    const rate = traffic.rate * (d ? 1 + d.amplitude * Math.sin((2 * Math.PI * t) / (d.period / 1000)) : 1);
    const split = bucketSplit(table);
    const live = split.canary > 0 || split.baseline > 0;
    if (live && !this.live) this.restartKeys();
    this.live = live;
    const behaviours: Record<Arm, VersionBehaviour> = { canary, stable, baseline: stable };
    const keys = emptyArmKeys();
    const shares = sharesOf(table, traffic.matching ?? 0);
    // Requests sent to the canary by a header or cookie route: no stickiness key counts them.
    const routed = table.canary !== undefined && table.routes.length > 0 ? (traffic.matching ?? 0) : 0;
    const load = (rate / traffic.rate) * (1 - routed);
    const rates = this.population?.rates(split, load) ?? {
      canary: rate * (shares.canary - routed),
      stable: rate * (1 - shares.canary - shares.baseline),
      baseline: rate * shares.baseline,
    };
    const windows = this.sample(rates, shares.baseline > 0, behaviours);
    // Without a population each request sent by weight is a user of its own.
    const own: Windows = {};
    if (this.population) Object.assign(keys, this.population.step(split, load, behaviours));
    else for (const arm of ARMS) if (windows[arm]) own[arm] = { ...windows[arm] };
    if (routed > 0 && windows.canary)
      this.addRequests(
        windows.canary,
        sampleVersion(this.random, this.random.poisson(rate * routed), canary),
        canary.latency,
      );
    this.addClients(t, split, behaviours, windows, keys);
    for (const arm of ARMS) {
      const w = windows[arm];
      const mine = own[arm];
      if (w)
        w.keys = new SecondKeys(
          (mine?.requests ?? 0) + keys[arm].seen,
          (mine?.errors ?? 0) + keys[arm].failed,
          keys[arm].slow,
          this.track,
          mine?.latency,
        );
    }
    const split2 = splitShares(table);
    return {
      canary: windows.canary!,
      stable: windows.stable!,
      ...(windows.baseline ? { baseline: windows.baseline } : {}),
      ...(split2 !== undefined ? { shares: split2 } : {}),
    };
  }

  /** Each version's requests at these rates, drawn in the order the simulator always has: canary, stable, baseline. */
  private sample(rates: Record<Arm, number>, baseline: boolean, behaviours: Record<Arm, VersionBehaviour>): Windows {
    const { random } = this;
    const canary = sampleVersion(random, random.poisson(rates.canary), behaviours.canary);
    const stable = sampleVersion(random, random.poisson(rates.stable), behaviours.stable);
    if (!baseline) return { canary, stable };
    return { canary, stable, baseline: sampleVersion(random, random.poisson(rates.baseline), behaviours.baseline) };
  }

  private addClients(
    t: number,
    split: BucketSplit,
    behaviours: Record<Arm, VersionBehaviour>,
    windows: Windows,
    keys: Record<Arm, ArmKeys>,
  ): void {
    this.regressed = { requests: 0, extraErrors: 0 };
    for (const c of this.clients) {
      const sent = c.second(t, split, behaviours, keys);
      const w = sent && windows[sent.arm];
      if (!sent || !w || sent.requests === 0) continue;
      this.addRequests(w, sent, sent.latency);
      this.regressed.requests += sent.regressed.requests;
      this.regressed.extraErrors += sent.regressed.extraErrors;
    }
  }

  /** Adds requests to a version's second, with their latency: the window's is the mixture of all it has, by requests. */
  private addRequests(
    w: VersionWindow,
    more: { requests: number; errors: number },
    latency: VersionBehaviour['latency'],
  ): void {
    const base = w.latency as SyntheticLatency;
    const parts = (
      base instanceof MixedLatency ? base.parts : [{ requests: w.requests, median: base.median, sigma: base.sigma }]
    )
      .filter((p) => p.requests > 0)
      .map((p) => ({ ...p }));
    const same = parts.find((p) => p.median === latency.median && p.sigma === latency.sigma);
    if (same) same.requests += more.requests;
    else parts.push({ requests: more.requests, ...latency });
    w.requests += more.requests;
    w.errors += more.errors;
    w.latency =
      parts.length === 1
        ? new SyntheticLatency(this.random, w.requests, latency.median, latency.sigma)
        : new MixedLatency(this.random, parts);
  }

  /** The key tracker starts empty, as the router's does when a canary or baseline first gets buckets again. */
  private restartKeys(): void {
    this.population?.reset();
    for (const c of this.clients) c.reset();
    this.tracked.clear();
  }

  /** Counts first-slow keys above `threshold` in every second since the tracker started, the first time the judge asks. */
  private readonly track = (threshold: number, window: SecondKeys): void => {
    if (!this.tracked.has(threshold)) {
      this.tracked.add(threshold);
      this.population?.track(threshold);
      for (const c of this.clients) c.track(threshold);
    }
    window.settle(threshold);
  };
}
