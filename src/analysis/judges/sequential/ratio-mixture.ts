/**
 * An e-process for the ratio r = (canary rate)/(control rate) of some event (an error, a
 * slow request, a request routed to the canary), from counts that arrive in batches.
 *
 * Within a batch, given how many requests each side served and how many events there were
 * in all, each event is the canary's with probability θ(r) = ρr/(ρr + 1 − ρ), where ρ is
 * the canary's share of *that batch's* requests. The likelihood of the batch under r, over
 * its likelihood under a null r0, has expectation ≤ 1 when the true ratio is on the null's
 * side (a binomial bound; drawing events without replacement only lowers it — Hoeffding
 * 1963, Thm 4). A mixture over r of products of such ratios is therefore a test
 * supermartingale whatever ρ does from batch to batch: diurnal load, bursts, or a rollout
 * stepping 5 → 25 → 50%. Ville's inequality then bounds P(ever ≥ 1/α) by α, so the
 * process may be checked every second. The state is one log-likelihood per grid point.
 */
import { logAddExp } from '../../stats/special.js';

/** ln r from 1/100 to 100 in 80ths of ln 100 (steps of ~5.9%): fine enough that a real effect always sits near a grid point. */
const STEPS = 40;
const SPAN = Math.log(100);
const STEP = SPAN / STEPS;
export const LOG_RATIO_GRID: Float64Array = Float64Array.from({ length: 2 * STEPS + 1 }, (_, i) => (i - STEPS) * STEP);

export interface RatioMixtureState {
  /** ln r of each tracked point: the grid (the first `gridLength`), then any exact null points. */
  points: number[];
  gridLength: number;
  logLikelihood: number[];
  canaryEvents: number;
  controlEvents: number;
  canaryExposure: number;
  controlExposure: number;
}

export class RatioMixture {
  private readonly points: Float64Array;
  private readonly expm1: Float64Array;
  private readonly logLik: Float64Array;
  private readonly gridLength: number;
  canaryEvents = 0;
  controlEvents = 0;
  canaryExposure = 0;
  controlExposure = 0;

  /** `nulls` are ln r values tested exactly (e.g. ln 1, ln 1.2) in addition to the grid. */
  constructor(nulls: readonly number[] = [0], grid: ArrayLike<number> = LOG_RATIO_GRID) {
    this.gridLength = grid.length;
    this.points = Float64Array.from([...Array.from(grid), ...nulls]);
    this.expm1 = this.points.map((l) => Math.expm1(l));
    this.logLik = new Float64Array(this.points.length);
  }

  /**
   * Adds a batch: `canary` and `control` events, and the canary's share of the batch's
   * exposure (requests). A batch with no events, or a share of 0 or 1, carries no
   * information about r and changes nothing but the totals.
   */
  update(canary: number, control: number, share: number, canaryExposure = 0, controlExposure = 0): void {
    this.canaryEvents += canary;
    this.controlEvents += control;
    this.canaryExposure += canaryExposure;
    this.controlExposure += controlExposure;
    const events = canary + control;
    if (events === 0 || !(share > 0 && share < 1)) return;
    // ln L(r) = y·ln r − (y+m)·ln(ρr + 1 − ρ), dropping terms that do not depend on r.
    for (let i = 0; i < this.points.length; i++)
      this.logLik[i]! += canary * this.points[i]! - events * Math.log1p(share * this.expm1[i]!);
  }

  private logLikAt(logRatio: number): number {
    const i = this.points.lastIndexOf(logRatio);
    if (i < 0) throw new Error(`ln r = ${logRatio} is not tracked; pass it to the constructor`);
    return this.logLik[i]!;
  }

  /**
   * ln E for H0: r ≤ r0, against a uniform mixture over the grid's ln r in (ln r0, ln rMax].
   * `above = false` tests H0: r ≥ r0 against ln r in [ln rMin, ln r0).
   */
  logE(logNull: number, above: boolean, logLimit = above ? SPAN : -SPAN): number {
    const base = this.logLikAt(logNull);
    let acc = -Infinity;
    let n = 0;
    for (let i = 0; i < this.gridLength; i++) {
      const l = this.points[i]!;
      if (above ? l > logNull && l <= logLimit + 1e-12 : l < logNull && l >= logLimit - 1e-12) {
        acc = logAddExp(acc, this.logLik[i]! - base);
        n++;
      }
    }
    return n === 0 ? 0 : acc - Math.log(n);
  }

  /**
   * A (1 − α) confidence set for r: every grid point whose own two-sided e-process (the
   * uniform mixture over the whole grid, against that point) is still below 1/α. Reported as
   * [lowest, highest]; the ends are the grid's when the data cannot exclude them.
   */
  confidenceInterval(alpha: number): [number, number] {
    const n = this.gridLength;
    let mixture = -Infinity;
    for (let i = 0; i < n; i++) mixture = logAddExp(mixture, this.logLik[i]!);
    mixture -= Math.log(n);
    const limit = Math.log(1 / alpha);
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      if (mixture - this.logLik[i]! < limit) {
        lo = Math.min(lo, this.points[i]!);
        hi = Math.max(hi, this.points[i]!);
      }
    }
    return [Math.exp(lo), Math.exp(hi)];
  }

  /** The grid's maximum-likelihood ratio (NaN before any event). */
  estimate(): number {
    if (this.canaryEvents + this.controlEvents === 0) return NaN;
    let best = 0;
    for (let i = 1; i < this.gridLength; i++) if (this.logLik[i]! > this.logLik[best]!) best = i;
    return Math.exp(this.points[best]!);
  }

  toJSON(): RatioMixtureState {
    return {
      points: Array.from(this.points),
      gridLength: this.gridLength,
      logLikelihood: Array.from(this.logLik),
      canaryEvents: this.canaryEvents,
      controlEvents: this.controlEvents,
      canaryExposure: this.canaryExposure,
      controlExposure: this.controlExposure,
    };
  }

  static from(state: RatioMixtureState): RatioMixture {
    const m = new RatioMixture(state.points.slice(state.gridLength), state.points.slice(0, state.gridLength));
    m.logLik.set(state.logLikelihood);
    Object.assign(m, {
      canaryEvents: state.canaryEvents,
      controlEvents: state.controlEvents,
      canaryExposure: state.canaryExposure,
      controlExposure: state.controlExposure,
    });
    return m;
  }
}
