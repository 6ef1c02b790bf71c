/**
 * Makes the traffic in the status true: asks the traffic router for it, reads back what
 * the data plane serves, and acknowledges the state to the machine (`trafficApplied`)
 * only once the two match, so a step never completes on a table the data plane has not
 * taken. A router that refuses is reported (`trafficFailed`); one that has not caught up
 * yet is asked again next round, and reported too once it has lagged for too long.
 */
import { formatDuration } from '../../config/duration.js';
import { sameTraffic, type TrafficRouter } from '../seams/traffic.js';
import type { RolloutStatus } from '../types.js';
import type { EngineContext } from './context.js';
import { isNotActing } from '../../shared/not-acting.js';

/** Every this many rounds the traffic is written again, in case the data plane lost it. */
const REAPPLY_EVERY = 10;
/**
 * For this long after a split is first served, windows still count requests routed under
 * the one before (they finish later), so the sample-ratio guard is not asked about them.
 */
const SETTLE_MS = 2500;
/** How many past splits are kept for windows that are read late (after an outage of the source). */
const SPLITS_KEPT = 32;
/**
 * An instance the router no longer sends anything to is stopped only after this long,
 * so requests it was already serving finish rather than fail.
 */
const DRAIN_MS = 2000;
/**
 * A data plane serves a table it accepted within a round or two; one that still does not
 * after this long will not on its own, and a rollback waiting on it must say so (Degraded).
 */
const NOT_SERVED_AFTER_MS = 10_000;

export class TrafficReconciler {
  /**
   * What the data plane was last seen serving (`seq`), and since when the split has been
   * what it is (`at`, unchanged by rewriting the same state): the sample-ratio guard and
   * draining go by this, not by the wish.
   */
  private applied?: { seq: number; traffic: RolloutStatus['traffic']; at: number };
  /**
   * The splits the data plane has served, oldest first: each from when it was seen served
   * until the router was first asked for another (which it may serve at once).
   */
  private readonly splits: { traffic: RolloutStatus['traffic']; from: number; until?: number }[] = [];
  /** An instance's addresses changed, so the state must be written again. */
  private endpointsChanged = false;
  /** The last reason the router did not take a state, until one is taken. */
  private error?: string;
  /** The state the router accepted but the data plane does not serve yet, since when, and whether that was reported. */
  private lagging?: { seq: number; since: number; reported: boolean };

  constructor(
    private readonly ctx: EngineContext,
    private readonly router: TrafficRouter,
    private readonly instances: { isReady(id: string): boolean; endpoints(id: string): string[] },
  ) {}

  markEndpointsChanged(): void {
    this.endpointsChanged = true;
  }

  /** Whether what the status stops has been out of the data plane long enough to stop it. */
  drained(): boolean {
    const s = this.ctx.status();
    return (
      this.applied !== undefined && s.appliedSeq === s.trafficSeq && this.ctx.clock.now() - this.applied.at >= DRAIN_MS
    );
  }

  /** The split served all through `start`..`end`, once settled; none when the window mixes two. */
  trafficDuring(start: number, end: number): RolloutStatus['traffic'] | undefined {
    return this.splits.find((p) => p.from + SETTLE_MS <= start && (p.until === undefined || end <= p.until))?.traffic;
  }

  async reconcile(round: number): Promise<void> {
    const { ctx } = this;
    const s = ctx.status();
    const due =
      s.appliedSeq !== s.trafficSeq ||
      this.applied?.seq !== s.trafficSeq ||
      this.endpointsChanged ||
      round % REAPPLY_EVERY === 0;
    if (!due) return;
    const ids = [s.traffic.stable, s.traffic.canary, s.traffic.baseline].filter((id): id is string => id !== undefined);
    // Right after a restart the instances may still be being adopted; their addresses come with them.
    const known = (id: string) =>
      this.instances.isReady(id) ||
      (id === s.traffic.canary &&
        s.traffic.weights.canary === 0 &&
        s.traffic.routes.length === 0 &&
        s.traffic.mirror === 0);
    if (!ids.every(known)) return;
    this.endpointsChanged = false;
    const seq = s.trafficSeq;
    const wanted = JSON.stringify(s.traffic);
    const last = this.splits.at(-1);
    if (last && last.until === undefined && JSON.stringify(last.traffic) !== wanted) last.until = ctx.clock.now();
    try {
      await this.router.apply(s.traffic, (id) => this.instances.endpoints(id));
      const observed = await this.router.observe();
      this.error = undefined;
      if (!sameTraffic(observed, s.traffic)) {
        await this.lagBehind(seq);
        return;
      }
      this.lagging = undefined;
      const unchanged = this.applied && JSON.stringify(this.applied.traffic) === JSON.stringify(s.traffic);
      this.applied = { seq, traffic: s.traffic, at: unchanged ? this.applied!.at : ctx.clock.now() };
      const serving = this.splits.at(-1);
      if (!serving || serving.until !== undefined || JSON.stringify(serving.traffic) !== wanted) {
        this.splits.push({ traffic: s.traffic, from: ctx.clock.now() });
        if (this.splits.length > SPLITS_KEPT) this.splits.shift();
      }
      if (s.appliedSeq !== seq) await ctx.send({ type: 'trafficApplied', seq });
    } catch (err) {
      const message = (err as Error).message;
      // Said once per reason, not on every round while the router stays out of reach.
      if (message !== this.error) ctx.log(`the router did not take the new table: ${message}`);
      this.error = message;
      // Refused because this process stopped acting (a lapsed lease): not the router's failure.
      if (isNotActing(err)) return;
      await ctx.send({ type: 'trafficFailed', seq, reason: message });
    }
  }

  /** The router took state `seq` but the data plane does not serve it: wait, then report it as a failure. */
  private async lagBehind(seq: number): Promise<void> {
    const { ctx } = this;
    const now = ctx.clock.now();
    if (this.lagging?.seq !== seq) {
      ctx.log(`the ${this.router.name} router does not serve the new traffic yet`);
      this.lagging = { seq, since: now, reported: false };
    }
    if (now - this.lagging.since < NOT_SERVED_AFTER_MS) return;
    const reason = `the ${this.router.name} router accepted the table but does not serve it after ${formatDuration(NOT_SERVED_AFTER_MS)}`;
    if (!this.lagging.reported) ctx.log(reason);
    this.lagging.reported = true;
    await ctx.send({ type: 'trafficFailed', seq, reason });
  }
}
