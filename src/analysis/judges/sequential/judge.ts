/**
 * The sequential judge: anytime-valid tests of "canary worse than control", safe to check
 * every second. Each metric is an e-process (ratio-mixture.ts); the error budget α is split
 * across metrics by weight (a Bonferroni split costs only ln M), a metric fails when its
 * e-value reaches 1/α_m, and by Ville's inequality the chance that *any* metric ever does
 * so while the canary is no worse is at most α — over the whole rollout, not per look.
 */
import type { ComparisonWindow } from './window.js';
import { RatioMixture, type RatioMixtureState } from './ratio-mixture.js';

export type SequentialMetric =
  | { name: string; kind: 'errors'; weight?: number }
  | { name: string; kind: 'slow'; threshold: number; weight?: number }
  | { name: string; kind: 'latency'; quantiles: number[]; weight?: number };

export interface SequentialSettings {
  alpha: number;
  metrics: SequentialMetric[];
  /** Sample-ratio guard: the relative deviation of the canary's request share tolerated, and the guard's own α. */
  srm: { tolerance: number; alpha: number } | false;
  promotion: { minRequests: number; noWorseThan?: number };
}

export const DEFAULT_SETTINGS: SequentialSettings = {
  alpha: 0.05,
  metrics: [
    { name: 'errors', kind: 'errors', weight: 2 },
    { name: 'latency', kind: 'latency', quantiles: [0.5, 0.9, 0.99], weight: 1 },
  ],
  srm: { tolerance: 0.3, alpha: 0.001 },
  promotion: { minRequests: 0 },
};

export type Verdict = 'Successful' | 'Failed' | 'Inconclusive' | 'Error' | 'Running';

export interface RatioEvidence {
  /** The event: "errors", "slower than 250 ms", "slower than control's p99". */
  event: string;
  canary: { requests: number; events: number; rate: number };
  control: { requests: number; events: number; rate: number };
  /** Canary rate / control rate: the grid's best fit and a (1 − α_m) confidence sequence. */
  ratio: { estimate: number; lower: number; upper: number };
  eValue: number;
  /** The latency threshold last used (seconds), for quantile tests. */
  threshold?: number;
}

export interface MetricEvidence {
  name: string;
  kind: SequentialMetric['kind'];
  alpha: number;
  /** The metric's e-value (the mean over its parts) and its always-valid p-value. */
  eValue: number;
  pValue: number;
  failed: boolean;
  /** Whether "no worse than `noWorseThan`" has been shown, when promotion asks for it. */
  noWorse?: { margin: number; eValue: number; shown: boolean };
  parts: RatioEvidence[];
}

export interface SequentialReport {
  verdict: Verdict;
  /** One sentence a person can act on, naming the evidence. */
  reason: string;
  windows: number;
  metrics: MetricEvidence[];
  srm?: { expectedShare: number; observedShare: number; eValue: number; failed: boolean };
}

interface Part {
  mixture: RatioMixture;
  quantile?: number;
  /** ln of the latency threshold, an average of control's quantile over earlier windows. */
  logThreshold?: number;
}

interface MetricState {
  metric: SequentialMetric;
  alpha: number;
  parts: Part[];
  minP: number;
}

/** How fast a quantile threshold follows control's recent latency (per window). */
const THRESHOLD_SMOOTHING = 0.2;

export class SequentialJudge {
  private readonly states: MetricState[];
  private srm?: RatioMixture;
  private readonly logMargin?: number;
  private windows = 0;
  /** Every canary request seen. Not a metric's exposure: a latency part counts only once its threshold is set. */
  private canaryRequests = 0;
  private failure?: string;
  private expectedShare = NaN;

  constructor(readonly settings: SequentialSettings) {
    if (settings.metrics.length === 0) throw new Error('a sequential analysis needs at least one metric');
    const total = settings.metrics.reduce((s, m) => s + (m.weight ?? 1), 0);
    const margin = settings.promotion.noWorseThan;
    this.logMargin = margin === undefined ? undefined : Math.log(margin);
    const nulls = this.logMargin === undefined ? [0] : [0, this.logMargin];
    this.states = settings.metrics.map((metric) => ({
      metric,
      alpha: (settings.alpha * (metric.weight ?? 1)) / total,
      parts:
        metric.kind === 'latency'
          ? metric.quantiles.map((quantile) => ({ mixture: new RatioMixture(nulls), quantile }))
          : [{ mixture: new RatioMixture(nulls) }],
      minP: 1,
    }));
    if (settings.srm) {
      const t = Math.log1p(settings.srm.tolerance);
      this.srm = new RatioMixture([t, -t]);
    }
  }

  /** Adds one window (typically one second) of counts. */
  observe(w: ComparisonWindow): void {
    this.windows++;
    const { canary, control } = w;
    this.canaryRequests += canary.requests;
    const total = canary.requests + control.requests;
    const share = total > 0 ? canary.requests / total : NaN;
    for (const state of this.states) {
      const m = state.metric;
      if (m.kind === 'errors')
        state.parts[0]!.mixture.update(canary.errors, control.errors, share, canary.requests, control.requests);
      else if (m.kind === 'slow') {
        const [y] = canary.latency?.countAbove([m.threshold]) ?? [0];
        const [x] = control.latency?.countAbove([m.threshold]) ?? [0];
        state.parts[0]!.mixture.update(y!, x!, share, canary.requests, control.requests);
      } else this.observeQuantiles(state, w, share);
      this.track(state);
    }
    if (this.srm && w.expectedShare !== undefined && w.expectedShare > 0 && w.expectedShare < 1) {
      this.srm.update(canary.requests, control.requests, w.expectedShare);
      this.expectedShare = w.expectedShare;
    }
  }

  private observeQuantiles(state: MetricState, w: ComparisonWindow, share: number): void {
    const { canary, control } = w;
    const ready = state.parts.filter((p) => p.logThreshold !== undefined);
    if (ready.length > 0 && canary.latency && control.latency) {
      const thresholds = ready.map((p) => Math.exp(p.logThreshold!));
      const y = canary.latency.countAbove(thresholds);
      const x = control.latency.countAbove(thresholds);
      ready.forEach((p, i) => p.mixture.update(y[i]!, x[i]!, share, canary.requests, control.requests));
    }
    // Only now learn from this window, so a threshold never depends on the data it judges.
    if (control.latency && control.requests >= 10) {
      for (const p of state.parts) {
        const v = control.latency.quantile(p.quantile!);
        if (!(v > 0)) continue;
        p.logThreshold =
          p.logThreshold === undefined
            ? Math.log(v)
            : p.logThreshold + THRESHOLD_SMOOTHING * (Math.log(v) - p.logThreshold);
      }
    }
  }

  private metricLogE(state: MetricState): number {
    const logs = state.parts.map((p) => p.mixture.logE(0, true));
    const max = Math.max(...logs);
    return max + Math.log(logs.reduce((s, l) => s + Math.exp(l - max), 0) / logs.length);
  }

  private track(state: MetricState): void {
    const logE = this.metricLogE(state);
    state.minP = Math.min(state.minP, Math.exp(-logE));
    if (!this.failure && logE >= Math.log(1 / state.alpha)) this.failure = state.metric.name;
  }

  /** ln of the larger of the two one-sided SRM e-values (share too high, share too low). */
  private srmLogE(): number {
    if (!this.srm || !this.settings.srm) return 0;
    const t = Math.log1p(this.settings.srm.tolerance);
    return Math.max(this.srm.logE(t, true), this.srm.logE(-t, false));
  }

  private srmFailed(): boolean {
    return this.settings.srm !== false && this.srmLogE() >= Math.log(2 / this.settings.srm.alpha);
  }

  /** The decision so far, cheaply: what the controller asks every second. */
  verdict(final = false): Verdict {
    if (this.failure) return 'Failed';
    if (this.srmFailed()) return 'Inconclusive';
    if (this.promotable())
      return final || this.settings.promotion.noWorseThan !== undefined || this.settings.promotion.minRequests > 0
        ? 'Successful'
        : 'Running';
    return final ? 'Inconclusive' : 'Running';
  }

  private promotable(): boolean {
    const p = this.settings.promotion;
    if (this.canaryRequests < p.minRequests) return false;
    if (this.logMargin === undefined) return true;
    return this.states.every((s) =>
      s.parts.every((part) => part.mixture.logE(this.logMargin!, false) >= Math.log(1 / s.alpha)),
    );
  }

  report(final = false): SequentialReport {
    const metrics = this.states.map((s) => this.evidence(s));
    const verdict = this.verdict(final);
    const seen = this.srm ? this.srm.canaryEvents + this.srm.controlEvents : 0;
    const srm =
      this.srm && seen > 0
        ? {
            expectedShare: this.expectedShare,
            observedShare: this.srm.canaryEvents / seen,
            eValue: Math.exp(this.srmLogE()),
            failed: this.srmFailed(),
          }
        : undefined;
    return {
      verdict,
      reason: explain(verdict, metrics, srm, this.settings, this.canaryRequests),
      windows: this.windows,
      metrics,
      ...(srm ? { srm } : {}),
    };
  }

  private evidence(s: MetricState): MetricEvidence {
    const logE = this.metricLogE(s);
    const parts = s.parts.map((p) => ratioEvidence(s.metric, p, s.alpha));
    const out: MetricEvidence = {
      name: s.metric.name,
      kind: s.metric.kind,
      alpha: s.alpha,
      eValue: Math.exp(logE),
      pValue: s.minP,
      failed: this.failure === s.metric.name,
      parts,
    };
    if (this.logMargin !== undefined) {
      const eNoWorse = Math.min(...s.parts.map((p) => Math.exp(p.mixture.logE(this.logMargin!, false))));
      out.noWorse = { margin: Math.exp(this.logMargin), eValue: eNoWorse, shown: eNoWorse >= 1 / s.alpha };
    }
    return out;
  }

  toJSON(): SequentialJudgeState {
    return {
      settings: this.settings,
      windows: this.windows,
      canaryRequests: this.canaryRequests,
      failure: this.failure ?? null,
      expectedShare: this.expectedShare,
      srm: this.srm?.toJSON() ?? null,
      metrics: this.states.map((s) => ({
        minP: s.minP,
        parts: s.parts.map((p) => ({ mixture: p.mixture.toJSON(), logThreshold: p.logThreshold ?? null })),
      })),
    };
  }

  static from(state: SequentialJudgeState): SequentialJudge {
    const judge = new SequentialJudge(state.settings);
    judge.windows = state.windows;
    judge.canaryRequests = state.canaryRequests;
    if (state.failure) judge.failure = state.failure;
    judge.expectedShare = state.expectedShare ?? NaN;
    if (state.srm) judge.srm = RatioMixture.from(state.srm);
    state.metrics.forEach((m, i) => {
      const s = judge.states[i]!;
      s.minP = m.minP;
      m.parts.forEach((p, j) => {
        s.parts[j]!.mixture = RatioMixture.from(p.mixture);
        if (p.logThreshold !== null) s.parts[j]!.logThreshold = p.logThreshold;
      });
    });
    return judge;
  }
}

export interface SequentialJudgeState {
  settings: SequentialSettings;
  windows: number;
  canaryRequests: number;
  failure: string | null;
  expectedShare: number | null;
  srm: RatioMixtureState | null;
  metrics: { minP: number; parts: { mixture: RatioMixtureState; logThreshold: number | null }[] }[];
}

function ratioEvidence(metric: SequentialMetric, part: Part, alpha: number): RatioEvidence {
  const m = part.mixture;
  const [lower, upper] = m.confidenceInterval(alpha);
  const rate = (events: number, requests: number) => (requests > 0 ? events / requests : NaN);
  const event =
    metric.kind === 'errors'
      ? 'errors'
      : metric.kind === 'slow'
        ? `slower than ${formatSeconds(metric.threshold)}`
        : `slower than control's p${round(part.quantile! * 100)}`;
  return {
    event,
    canary: { requests: m.canaryExposure, events: m.canaryEvents, rate: rate(m.canaryEvents, m.canaryExposure) },
    control: { requests: m.controlExposure, events: m.controlEvents, rate: rate(m.controlEvents, m.controlExposure) },
    ratio: { estimate: m.estimate(), lower, upper },
    eValue: Math.exp(m.logE(0, true)),
    ...(part.logThreshold !== undefined ? { threshold: Math.exp(part.logThreshold) } : {}),
  };
}

function explain(
  verdict: Verdict,
  metrics: MetricEvidence[],
  srm: SequentialReport['srm'],
  settings: SequentialSettings,
  canaryRequests: number,
): string {
  if (verdict === 'Failed') {
    const m = metrics.find((x) => x.failed)!;
    const part = m.parts.reduce((a, b) => (b.eValue > a.eValue ? b : a));
    return (
      `${m.name}: the canary is worse — ${pct(part.canary.rate)} of its requests ${part.event === 'errors' ? 'failed' : `were ${part.event}`} ` +
      `against ${pct(part.control.rate)} of control's (${fmtRatio(part.ratio.estimate)}, ${pct(1 - m.alpha, 1)} confidence ${fmtRatio(part.ratio.lower)}–${fmtRatio(part.ratio.upper)}); ` +
      // The e-value may have fallen since it crossed; the crossing (1/p) is what decided.
      `e-value reached ${fmtE(1 / m.pValue)} ≥ 1/α = ${fmtE(1 / m.alpha)}, p ≤ ${m.pValue.toPrecision(2)}`
    );
  }
  if (srm?.failed) {
    return `sample-ratio mismatch: the canary served ${pct(srm.observedShare)} of requests where ${pct(srm.expectedShare)} was configured (tolerance ±${pct((settings.srm as { tolerance: number }).tolerance, 0)}), so the comparison cannot be trusted`;
  }
  const worst = metrics.reduce((a, b) => (b.eValue / (1 / b.alpha) > a.eValue / (1 / a.alpha) ? b : a));
  const p = settings.promotion;
  if (verdict === 'Successful') {
    const shown = p.noWorseThan !== undefined ? `; shown no worse than ${p.noWorseThan}× on every metric` : '';
    return `no evidence the canary is worse after ${canaryRequests} canary requests (strongest: ${worst.name}, e-value ${fmtE(worst.eValue)} < ${fmtE(1 / worst.alpha)})${shown}`;
  }
  const missing: string[] = [];
  if (canaryRequests < p.minRequests) missing.push(`${canaryRequests} of ${p.minRequests} canary requests`);
  if (p.noWorseThan !== undefined) {
    const unshown = metrics.filter((m) => !m.noWorse?.shown).map((m) => m.name);
    if (unshown.length > 0) missing.push(`not yet shown no worse than ${p.noWorseThan}×: ${unshown.join(', ')}`);
  }
  const waiting = missing.length > 0 ? `; promotion needs ${missing.join('; ')}` : '';
  return `${verdict === 'Running' ? 'watching' : 'not enough evidence either way'}: strongest signal ${worst.name} at e-value ${fmtE(worst.eValue)} of ${fmtE(1 / worst.alpha)}${waiting}`;
}

const round = (x: number) => Math.round(x * 10) / 10;
const pct = (x: number, digits = 2) => (Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : 'n/a');
const fmtRatio = (x: number) => (Number.isFinite(x) ? `${x < 10 ? x.toFixed(2) : x.toFixed(0)}×` : 'n/a');
const fmtE = (x: number) => (x >= 1000 ? x.toExponential(1) : x.toPrecision(3));
function formatSeconds(s: number): string {
  return s >= 1 ? `${round(s)} s` : `${round(s * 1000)} ms`;
}
