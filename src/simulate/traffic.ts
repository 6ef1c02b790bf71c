/**
 * Synthetic traffic for the simulator, generated as counts per second rather than one
 * request at a time — 1,000 thirty-minute rollouts at 1,000 req/s would otherwise be two
 * billion requests. Latency is lognormal; a window answers "how many slower than T" by
 * sampling nested binomials from the exact distribution, and a quantile with the
 * distribution's own (what a second of real data estimates, without its noise).
 */
import type { LatencyWindow, VersionWindow } from '../analysis/judges/sequential/window.js';
import { normalCdf, normalQuantile } from '../analysis/stats/special.js';
import type { Random } from '../analysis/stats/random.js';

export interface VersionBehaviour {
  /** Probability that a request fails (5xx). */
  errorRate: number;
  /** Lognormal latency: median in seconds and σ of ln(latency). */
  latency: { median: number; sigma: number };
}

export class SyntheticLatency implements LatencyWindow {
  private readonly answers = new Map<string, number[]>();

  constructor(
    protected readonly random: Random,
    readonly requests: number,
    readonly median: number,
    readonly sigma: number,
  ) {}

  survival(t: number): number {
    return slowerThan(t, this);
  }

  countAbove(thresholds: readonly number[]): number[] {
    // One draw per question, so the same question (of the requests, or of keys that are each one request) gets one answer.
    const key = thresholds.join(',');
    const known = this.answers.get(key);
    if (known) return [...known];
    const out = this.drawAbove(thresholds);
    this.answers.set(key, out);
    return [...out];
  }

  private drawAbove(thresholds: readonly number[]): number[] {
    // Visit thresholds from lowest to highest, each a binomial thinning of the one before.
    const order = thresholds.map((t, i) => [t, i] as const).sort((a, b) => a[0] - b[0]);
    const out = new Array<number>(thresholds.length);
    let n = this.requests;
    let above = 1;
    for (const [t, i] of order) {
      const s = this.survival(t);
      n = this.random.binomial(n, above > 0 ? Math.min(1, s / above) : 0);
      above = s;
      out[i] = n;
    }
    return out;
  }

  quantile(q: number): number {
    return this.requests === 0 ? NaN : this.median * Math.exp(this.sigma * normalQuantile(q));
  }

  /** The q-quantile of the mixture of both windows' distributions, weighted by their requests (by bisection on ln t). */
  pooledQuantile(other: LatencyWindow, q: number): number {
    if (!(other instanceof SyntheticLatency)) return NaN;
    const n = this.requests + other.requests;
    if (n === 0) return NaN;
    const above = (t: number) => (this.requests * this.survival(t) + other.requests * other.survival(t)) / n;
    return quantileOf(above, q, [this, other]);
  }

  /**
   * The q-quantile of `n` sampled requests: the order statistic's level is about
   * Normal(q, q(1−q)/n), which gives per-interval quantiles the noise real ones have.
   */
  sampledQuantile(q: number, n = this.requests): number {
    if (n === 0) return NaN;
    const level = Math.min(1 - 1e-9, Math.max(1e-9, q + Math.sqrt((q * (1 - q)) / n) * this.random.normal()));
    return this.median * Math.exp(this.sigma * normalQuantile(level));
  }
}

/** A window whose requests have several lognormal latencies (a version's own and heavy clients'), mixed by requests. */
export class MixedLatency extends SyntheticLatency {
  constructor(
    random: Random,
    readonly parts: readonly Lognormal[],
  ) {
    super(
      random,
      parts.reduce((n, p) => n + p.requests, 0),
      parts[0]!.median,
      Math.max(...parts.map((p) => p.sigma)),
    );
  }

  override survival(t: number): number {
    if (this.requests === 0) return 0;
    return this.parts.reduce((s, p) => s + p.requests * slowerThan(t, p), 0) / this.requests;
  }

  override quantile(q: number): number {
    return this.requests === 0 ? NaN : quantileOf((t) => this.survival(t), q, this.parts);
  }

  override sampledQuantile(q: number, n = this.requests): number {
    if (n === 0) return NaN;
    return this.quantile(Math.min(1 - 1e-9, Math.max(1e-9, q + Math.sqrt((q * (1 - q)) / n) * this.random.normal())));
  }
}

export interface Lognormal {
  requests: number;
  median: number;
  sigma: number;
}

/** The share of requests of a lognormal latency slower than `t` seconds. */
export function slowerThan(t: number, latency: { median: number; sigma: number }): number {
  return t <= 0 ? 1 : 1 - normalCdf(Math.log(t / latency.median) / latency.sigma);
}

/** The t where `above(t)`, a share of requests slower than t, falls to 1 − q: bisection on ln t, wide of every part. */
function quantileOf(
  above: (t: number) => number,
  q: number,
  parts: readonly { median: number; sigma: number }[],
): number {
  const reach = 10 * Math.max(1, ...parts.map((p) => p.sigma));
  let lo = Math.log(Math.min(...parts.map((p) => p.median))) - reach;
  let hi = Math.log(Math.max(...parts.map((p) => p.median))) + reach;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (above(Math.exp(mid)) > 1 - q) lo = mid;
    else hi = mid;
  }
  return Math.exp((lo + hi) / 2);
}

export function sampleVersion(random: Random, requests: number, behaviour: VersionBehaviour): VersionWindow {
  return {
    requests,
    errors: random.binomial(requests, behaviour.errorRate),
    latency: new SyntheticLatency(random, requests, behaviour.latency.median, behaviour.latency.sigma),
  };
}
