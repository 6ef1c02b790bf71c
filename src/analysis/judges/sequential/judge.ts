/**
 * The sequential judge: anytime-valid tests of "canary worse than control", safe to check
 * every second. Each metric is an e-process (ratio-mixture.ts); the error budget α is split
 * across metrics by weight (a Bonferroni split costs only ln M), a metric fails when its
 * e-value reaches 1/α_m, and by Ville's inequality the chance that *any* metric ever does
 * so while the canary is no worse is at most α — over the whole rollout, not per look.
 *
 * What one observation is depends on what was randomised to a version. With sticky routing
 * it is the user (the stickiness key), and one user's requests are never independent: a
 * retrying client or a bot sends its own errors in bursts, all to one version. The `users`
 * unit then counts each key at most once per kind of event — its first error, its first
 * request slower than a threshold — on the version that served it. Under "the canary
 * changes nothing", a key's first event falls on the canary with exactly the canary's
 * configured share of keys at that moment, whatever the key's rate, so the same mixture
 * applies with those counts and that share (docs/analysis.md has the argument). The
 * `requests` unit counts requests, valid where each request is assigned on its own.
 */
import type { ComparisonWindow } from './window.js';
import {
  byRequest,
  byUser,
  learnFromControl,
  learnPooled,
  replayLearned,
  type Counted,
  type LearnedWindow,
} from './counting.js';
import { RatioMixture } from './ratio-mixture.js';
import { explain, ratioEvidence } from './explain.js';
import type {
  MetricEvidence,
  Part,
  SequentialJudgeState,
  SequentialMetric,
  SequentialReport,
  SequentialSettings,
  Unit,
  Verdict,
} from './types.js';

// Callers import the judge's types from here, beside the judge.
export type * from './types.js';

export const DEFAULT_SETTINGS: SequentialSettings = {
  alpha: 0.05,
  metrics: [
    { name: 'errors', kind: 'errors', weight: 2 },
    { name: 'latency', kind: 'latency', quantiles: [0.5, 0.9, 0.99], weight: 1 },
  ],
  srm: { tolerance: 0.3, alpha: 0.001 },
  promotion: { minRequests: 0 },
};

/**
 * Users: the most windows kept for thresholds still learning (an hour of one-second windows).
 * Past it the oldest are dropped: their users are spent uncounted on both versions alike,
 * which costs power, not validity.
 */
const MAX_LEARNED_WINDOWS = 3600;

interface MetricState {
  metric: SequentialMetric;
  alpha: number;
  parts: Part[];
  minP: number;
}

export class SequentialJudge {
  private readonly states: MetricState[];
  private srm?: RatioMixture;
  private readonly logMargin?: number;
  private windows = 0;
  private unit: Unit | undefined;
  /** Every canary request seen. Not a metric's exposure: a latency part counts only once its threshold is set. */
  private canaryRequests = 0;
  /** Users first seen on the canary. */
  private canaryUsers = 0;
  /** Users first seen on either side: once there are any, a restart of the counts could count one twice. */
  private usersSeen = 0;
  /** Why the per-user test stopped taking evidence, if it did. */
  private interrupted: string | undefined;
  private failure?: string;
  private expectedShare = NaN;
  /** Users: the windows seen while a latency threshold was learned, judged against it once fixed (not saved: a restored judge keeps those since). */
  private learnedWindows: LearnedWindow[] = [];

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

  /** Stops taking evidence: the verdict is Inconclusive (unless it has failed already), for `reason`. */
  interrupt(reason: string): void {
    this.interrupted ??= reason;
  }

  /** The canary's exposure so far: every request it served, and the users first seen on it. */
  get exposure(): { canaryRequests: number; canaryUsers: number } {
    return { canaryRequests: this.canaryRequests, canaryUsers: this.canaryUsers };
  }

  /** What this judge counts once decided (`auto` decides at the first window with traffic). */
  get countedUnit(): Unit | undefined {
    return this.unit;
  }

  /** Adds one window (typically one second) of counts. */
  observe(w: ComparisonWindow): void {
    this.windows++;
    const { canary, control } = w;
    this.canaryRequests += canary.requests;
    if (this.unit === undefined && canary.requests + control.requests > 0) this.unit = this.decideUnit(w);
    if (this.unit === 'users') {
      // Evidence already counted cannot be taken back, so a restart of the counts ends the test.
      if (w.usersRestarted && this.usersSeen > 0 && !this.interrupted)
        this.interrupted =
          "the router's user counts started again during the analysis (a router restart or a new tracker), so a user could be counted twice";
      if (this.interrupted) return;
      return this.observeUsers(w);
    }
    const total = canary.requests + control.requests;
    const withLatency = canary.latency !== undefined && control.latency !== undefined;
    this.count(byRequest(canary), byRequest(control), total > 0 ? canary.requests / total : NaN, w.expectedShare, {
      judged: (p) => withLatency && p.logThreshold !== undefined,
      learn: (state) => learnFromControl(state.parts, control),
    });
  }

  private decideUnit(w: ComparisonWindow): Unit {
    const asked = this.settings.unit ?? 'auto';
    if (asked !== 'auto') return asked;
    if (w.assignment) return w.assignment === 'key' ? 'users' : 'requests';
    return w.canary.keys && w.control.keys ? 'users' : 'requests';
  }

  /**
   * Each user adds to a metric once, on the version that served its first event, and is held
   * to the configured share of users: the windows' own request shares, which heavy users
   * distort, play no part. A window served by two splits (`keyShare` unknown) adds nothing.
   */
  private observeUsers(w: ComparisonWindow): void {
    const [canary, control] = [w.canary.keys, w.control.keys];
    if (!canary || !control) return;
    this.canaryUsers += canary.seen;
    // Only users that could add evidence make a later restart of the counts matter.
    const share = w.keyShare ?? NaN;
    if (share > 0 && share < 1) this.usersSeen += canary.seen + control.seen;
    const [c, x] = [byUser(canary), byUser(control)];
    if (this.learning()) {
      if (share > 0 && share < 1) this.learnedWindows.push({ canary: c, control: x, share });
      if (this.learnedWindows.length > MAX_LEARNED_WINDOWS) this.learnedWindows.shift();
    }
    this.count(c, x, share, w.keyShare, {
      judged: (p) => p.fixed === true,
      learn: (state) => {
        const learning = state.parts.filter((p) => !p.fixed);
        learnPooled(state.parts, w.canary, w.control);
        for (const p of learning) if (p.fixed) replayLearned(p, this.learnedWindows);
      },
      exposedWhileLearning: true,
    });
    if (!this.learning()) this.learnedWindows = [];
  }

  /** Whether any latency threshold is still being learned. */
  private learning(): boolean {
    return this.states.some((s) => s.metric.kind === 'latency' && s.parts.some((p) => !p.fixed));
  }

  /**
   * Folds one window into every metric, whatever is counted: events against `share`, latency
   * parts whose threshold `judged` accepts, then (after judging, so a threshold that follows
   * control's never depends on the data it judges) `learn`; and the split guard against
   * `srmShare`. With `exposedWhileLearning`, a part still learning counts the window's
   * exposure (not its events), and its events are judged once its threshold is fixed
   * (`replayLearned`, valid for a threshold learned from both versions pooled).
   */
  private count(
    canary: Counted,
    control: Counted,
    share: number,
    srmShare: number | undefined,
    quantiles: { judged: (p: Part) => boolean; learn: (state: MetricState) => void; exposedWhileLearning?: boolean },
  ): void {
    const update = (p: Part, y: number, x: number) => p.mixture.update(y, x, share, canary.exposure, control.exposure);
    for (const state of this.states) {
      const m = state.metric;
      if (m.kind === 'errors') update(state.parts[0]!, canary.failed, control.failed);
      else if (m.kind === 'slow')
        update(state.parts[0]!, canary.above([m.threshold])[0]!, control.above([m.threshold])[0]!);
      else {
        const parts = state.parts.filter(quantiles.judged);
        if (parts.length > 0) {
          const thresholds = parts.map((p) => Math.exp(p.logThreshold!));
          const [y, x] = [canary.above(thresholds), control.above(thresholds)];
          parts.forEach((p, i) => update(p, y[i]!, x[i]!));
        }
        if (quantiles.exposedWhileLearning) for (const p of state.parts) if (!quantiles.judged(p)) update(p, 0, 0);
        quantiles.learn(state);
      }
      this.track(state);
    }
    if (this.srm && srmShare !== undefined && srmShare > 0 && srmShare < 1) {
      this.srm.update(canary.exposure, control.exposure, srmShare);
      this.expectedShare = srmShare;
    }
  }

  /**
   * A metric's e-value from its parts (one per latency quantile). Counting requests, the
   * parts share one history and their mean is an e-process. Counting users it is not: a
   * user's first request above p50 tells its version before its first above p99, so the
   * parts are tested alone and the largest is divided by their number (a union bound).
   */
  private metricLogE(state: MetricState): number {
    const logs = state.parts.map((p) => p.mixture.logE(0, true));
    const max = Math.max(...logs);
    if (this.unit === 'users') return max - Math.log(logs.length);
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
    if (this.srmFailed() || this.interrupted) return 'Inconclusive';
    if (this.promotable())
      return final ||
        this.settings.promotion.noWorseThan !== undefined ||
        this.settings.promotion.minRequests > 0 ||
        (this.settings.promotion.minUsers ?? 0) > 0
        ? 'Successful'
        : 'Running';
    return final ? 'Inconclusive' : 'Running';
  }

  private promotable(): boolean {
    const p = this.settings.promotion;
    if (this.canaryRequests < p.minRequests) return false;
    if (this.canaryUsers < (p.minUsers ?? 0)) return false;
    // "No worse than r" has no per-user construction here (templates that ask are refused at load).
    if (this.unit === 'users' && this.logMargin !== undefined) return false;
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
            unit: this.unit ?? 'requests',
            expectedShare: this.expectedShare,
            observedShare: this.srm.canaryEvents / seen,
            eValue: Math.exp(this.srmLogE()),
            failed: this.srmFailed(),
          }
        : undefined;
    const unit = this.unit ?? 'requests';
    return {
      verdict,
      reason:
        verdict === 'Inconclusive' && this.interrupted && !srm?.failed
          ? `not judged further: ${this.interrupted}`
          : explain(verdict, metrics, srm, this.settings, {
              unit,
              canaryRequests: this.canaryRequests,
              canaryUsers: this.canaryUsers,
            }),
      ...(this.unit ? { unit: this.unit } : {}),
      windows: this.windows,
      metrics,
      ...(srm ? { srm } : {}),
    };
  }

  private evidence(s: MetricState): MetricEvidence {
    const logE = this.metricLogE(s);
    const parts = s.parts.map((p) => ratioEvidence(s.metric, p, s.alpha, this.unit));
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
      unit: this.unit ?? null,
      ...(this.interrupted ? { interrupted: this.interrupted } : {}),
      canaryRequests: this.canaryRequests,
      canaryUsers: this.canaryUsers,
      usersSeen: this.usersSeen,
      failure: this.failure ?? null,
      expectedShare: this.expectedShare,
      srm: this.srm?.toJSON() ?? null,
      metrics: this.states.map((s) => ({
        minP: s.minP,
        parts: s.parts.map((p) => ({
          mixture: p.mixture.toJSON(),
          logThreshold: p.logThreshold ?? null,
          ...(p.learned !== undefined ? { learned: p.learned, fixed: p.fixed === true } : {}),
        })),
      })),
    };
  }

  static from(state: SequentialJudgeState): SequentialJudge {
    const judge = new SequentialJudge(state.settings);
    judge.windows = state.windows;
    // A run saved before users were counted had counted requests, whatever it sees next.
    const unit = state.unit === undefined ? (state.windows > 0 ? 'requests' : undefined) : state.unit;
    if (unit) judge.unit = unit;
    judge.canaryRequests = state.canaryRequests;
    judge.canaryUsers = state.canaryUsers ?? 0;
    judge.usersSeen = state.usersSeen ?? judge.canaryUsers;
    if (state.interrupted) judge.interrupted = state.interrupted;
    if (state.failure) judge.failure = state.failure;
    judge.expectedShare = state.expectedShare ?? NaN;
    if (state.srm) judge.srm = RatioMixture.from(state.srm);
    state.metrics.forEach((m, i) => {
      const s = judge.states[i]!;
      s.minP = m.minP;
      m.parts.forEach((p, j) => {
        s.parts[j]!.mixture = RatioMixture.from(p.mixture);
        if (p.logThreshold !== null) s.parts[j]!.logThreshold = p.logThreshold;
        if (p.learned !== undefined) Object.assign(s.parts[j]!, { learned: p.learned, fixed: p.fixed });
      });
    });
    return judge;
  }
}
