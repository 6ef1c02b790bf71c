/**
 * The rollout engine: runs one rollout's state machine against the world. It receives
 * every seam it touches — a store, a traffic router, deployment targets, the data plane's
 * statistics and a clock — so the same engine runs under `kanari up`, in the demo, and in
 * unit tests on in-memory fakes (src/server/compose.ts builds the real ones).
 *
 * Every `analysisInterval` it samples the statistics, makes the status true (instances
 * started or stopped, traffic written and read back), ticks the analysis runs, and feeds
 * what happened back to the machine as events. Every transition is saved before anything
 * acts on it, so after a crash the saved status is simply made true again. Only when the
 * store cannot be written does a transition act unsaved, and then only one that takes
 * users off versions: a rollback never waits for the disk, and nothing moves forward that
 * a restart would undo.
 */
import type { AnalysisTemplateSpec } from '../config/schemas/analysis.js';
import type { RolloutDocument } from '../config/schemas/rollout.js';
import type { AnalysisReport } from '../analysis/run.js';
import type { StatsSnapshot } from '../shared/stats-snapshot.js';
import { initialStatus, transition } from './machine.js';
import { Notifier, payloadOf } from './notify.js';
import { Gates } from './webhooks.js';
import { hasBaseline, splitShares } from './shares.js';
import { assignmentUnit } from '../config/capabilities.js';
import { DurableBarrier, Saving } from './saving.js';
import { sizedDocument, sizedRelease, sizedStatus } from './sizes.js';
import type { Clock } from './seams/clock.js';
import type { RolloutStore } from './seams/store.js';
import type { TargetsFactory } from './seams/targets.js';
import type { TrafficRouter } from './seams/traffic.js';
import type { EngineContext } from './engine/context.js';
import { AnalysisSupervisor } from './engine/analyses.js';
import { InstanceReconciler } from './engine/instances.js';
import { TrafficReconciler } from './engine/traffic.js';
import type { RolloutEvent, RolloutStatus, Transition, UntimedEvent } from './types.js';

/**
 * Analyses wait this long for the data plane's statistics before measuring without them
 * (and so finding no requests, which pauses the rollout rather than passing it).
 */
const STATS_GRACE_MS = 10_000;

/** The seams: everything the engine does to the world goes through one of these. */
export interface EngineSeams {
  store: RolloutStore;
  traffic: TrafficRouter;
  targets: TargetsFactory;
  /**
   * The data plane's cumulative statistics, for the builtin provider; undefined while there
   * are none yet. Absent where no router of kanari's carries users (Kubernetes: counts come
   * from Prometheus), so analyses never wait for statistics that cannot come.
   */
  stats?: () => Promise<StatsSnapshot | undefined>;
  clock: Clock;
}

export interface EngineOptions extends EngineSeams {
  document: RolloutDocument;
  /** AnalysisTemplate documents applied with the rollout, by name (built-ins are always there). */
  templates?: Record<string, AnalysisTemplateSpec>;
  /**
   * What `{{target}}` stands for in a query about a version, given the instance it runs as
   * (on Kubernetes, the instance's Deployment); default `<service>-<version>`.
   */
  instanceTarget?: (instance: string) => string;
  /** Called after every accepted transition (the demo prints from here). */
  onTransition?: (t: Transition, event: RolloutEvent) => void;
  /** Called as each round starts, with how late (ms) it is after its slot. */
  onRound?: (lagMs: number) => void;
  log?: (line: string) => void;
}

export class RolloutEngine {
  readonly name: string;
  private readonly document: RolloutDocument;
  private statusNow: RolloutStatus;
  private readonly clock: Clock;
  private queue: Promise<unknown> = Promise.resolve();
  private timer?: unknown;
  private ticking?: Promise<void>;
  private rounds = 0;
  /** How late (ms) the last round started after its slot on the `analysisInterval` grid. */
  lag = 0;
  private sampledAt: number;
  private closed = false;
  /** Closed and leaving everything as it is: no event becomes a transition any more (what arrives late is dropped). */
  private halted = false;
  private reconciling?: Promise<void>;
  private reconcileAgain = false;
  private readonly saving: Saving;
  private readonly notifier: Notifier;
  private readonly gates: Gates;
  private readonly instances: InstanceReconciler;
  private readonly traffic: TrafficReconciler;
  private readonly analyses: AnalysisSupervisor;

  constructor(private readonly o: EngineOptions) {
    this.name = o.document.metadata.name;
    this.document = sizedDocument(o.document);
    this.clock = o.clock;
    const store = o.store.status;
    this.saving = new Saving(
      store,
      this.name,
      () => this.clock.now(),
      (line) => this.log(line),
    );
    this.sampledAt = this.clock.now();
    const saved = store.rollout(this.name);
    this.statusNow = saved ? sizedStatus(saved.status) : initialStatus(this.spec, this.clock.now());
    store.putRollout({ name: this.name, document: o.document, templates: o.templates ?? {}, status: this.statusNow });
    if (store.durable) this.saving.barrier = new DurableBarrier(store, this.statusNow);
    const ctx: EngineContext = {
      name: this.name,
      clock: this.clock,
      saving: this.saving,
      status: () => this.statusNow,
      send: (e) => this.send(e),
      log: (line) => this.log(line),
    };
    this.instances = new InstanceReconciler(
      ctx,
      o.targets,
      () => this.traffic.markEndpointsChanged(),
      () => void this.reconcile(),
    );
    this.traffic = new TrafficReconciler(ctx, o.traffic, this.instances);
    this.analyses = new AnalysisSupervisor(ctx, {
      runs: o.store.runs,
      stats: o.store.stats,
      templates: o.templates ?? {},
      ...(o.instanceTarget ? { instanceTarget: o.instanceTarget } : {}),
      expectedShareAt: (start, end) => {
        const served = this.traffic.trafficDuring(start, end);
        return served && splitShares(served);
      },
      hasBaseline: () => hasBaseline(this.statusNow.traffic),
      assignment: assignmentUnit(this.spec),
      stepDeadline: this.spec.progressDeadline,
    });
    this.notifier = new Notifier(this.spec.notifications, (url, reason) => {
      this.log(`notification to ${url} failed: ${reason}`);
      if (!this.closed)
        this.saving.write(() =>
          store.appendEvent(this.name, this.statusNow.revision, this.clock.now(), 'notificationFailed', {
            url,
            reason,
          }),
        );
    });
    this.gates = new Gates(this.name, this.spec.webhooks, (e) => void this.send(e));
  }

  get status(): RolloutStatus {
    return this.statusNow;
  }

  get spec(): RolloutDocument['spec'] {
    return this.document.spec;
  }

  /** Why the store cannot be written now, or undefined while it can. */
  get storeError(): { error: string; since: number } | undefined {
    return this.saving.error;
  }

  /**
   * Runs a round every `analysisInterval`, on a fixed grid: `lag` is how late the last
   * round started after its slot, and a round that overran skips the slots it missed
   * rather than running them back to back.
   */
  start(): void {
    const every = this.spec.analysisInterval;
    const now = () => this.clock.now();
    let due = now();
    const loop = () => {
      if (this.closed) return;
      this.lag = Math.max(0, now() - due);
      this.o.onRound?.(this.lag);
      void this.tick().finally(() => {
        due += every;
        while (due + every < now()) due += every;
        if (!this.closed) this.timer = this.clock.setTimeout(loop, Math.max(0, due - now()));
      });
    };
    loop();
  }

  /** A command or an acknowledgement; events are applied one at a time, in order. */
  send(e: UntimedEvent): Promise<Transition> {
    const next = this.queue.then(() => this.dispatch(e));
    this.queue = next.catch(() => {});
    return next;
  }

  /**
   * The templates analyses opened from now on read; runs already open keep the spec they
   * started with. The operator calls this while no release runs, with the resources it read.
   */
  useTemplates(templates: Record<string, AnalysisTemplateSpec>): void {
    this.analyses.useTemplates(templates);
  }

  /** Runs one round now (tests call this instead of waiting for the timer). */
  tick(): Promise<void> {
    // A round that throws is a bug, but it must not take every other rollout down with it.
    this.ticking ??= this.round()
      .catch((err: Error) => this.log(`a round failed: ${err.stack ?? err.message}`))
      .finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  /**
   * Stops ticking. `stopInstances` stops process instances too (`kanari down --all`, the
   * demo), so the running analyses end as Stopped with `stopReason`; without it they keep
   * running for the next controller, as the router does, which resumes every analysis.
   */
  async close(options: { stopInstances?: boolean; stopReason?: string } = {}): Promise<void> {
    this.closed = true;
    // Left for whoever runs it next (another operator replica, a restarted controller): a
    // target's answer arriving now was asked by an engine that no longer acts, and must not become a transition.
    if (!options.stopInstances) this.halted = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    await this.ticking;
    await this.queue;
    if (!options.stopInstances) return this.instances.detach();
    await this.send({ type: 'stopAnalyses', reason: options.stopReason ?? 'the instances it judged were stopped' });
    await this.analyses.endEnded(this.clock.now());
    await this.instances.stopAll();
  }

  /** An analysis run's report as of its last tick (views ask for it on every API call and scrape). */
  report(id: string): AnalysisReport | undefined {
    return this.analyses.report(id);
  }

  private dispatch(e: UntimedEvent): Transition {
    const event = { ...e, at: this.clock.now() } as RolloutEvent;
    if (event.type === 'deploy') event.release = sizedRelease(event.release);
    const before = this.statusNow;
    if (this.halted) return { status: before, actions: [], rejected: 'the engine is closed' };
    const t = transition(this.spec, before, event);
    if (t.rejected) return t;
    const s = t.status;
    // The journal's save point: a transition is saved (or refused) before anything acts on it.
    const refused = this.saving.transition(e, event.at, before, t);
    if (refused) return { status: before, actions: [], rejected: refused };
    this.statusNow = s;
    for (const a of t.actions) this.notifier.send(payloadOf(this.name, a, s, event.at));
    this.o.onTransition?.(t, event);
    // A rollback (or any new split) goes to the router now, not at the next round.
    if (
      before.trafficSeq !== s.trafficSeq ||
      before.stopping.length !== s.stopping.length ||
      before.instances.length !== s.instances.length
    )
      queueMicrotask(() => void this.reconcile());
    return t;
  }

  private async round(): Promise<void> {
    if (this.closed) return;
    this.rounds++;
    // Traffic first: after a restart this is what reaches (or adopts) the router to sample.
    await this.reconcile();
    const sampled = await this.sample();
    // After the sample, so this round's measurements include the delta it just recorded.
    const now = this.clock.now();
    if (sampled) this.sampledAt = now;
    // A round without fresh statistics would measure the controller's own gap (a restart,
    // a router not reached yet) as "no requests"; for a short while analyses wait instead.
    if (sampled || now - this.sampledAt > STATS_GRACE_MS) await this.analyses.tick(now);
    await this.send({ type: 'tick' });
    if (!this.closed) this.gates.poll(this.statusNow, this.clock.now());
  }

  /** Records the data plane's statistics; false when there were none to take (true when there is no data plane of kanari's to wait for). */
  private async sample(): Promise<boolean> {
    if (!this.o.stats) return true;
    let snapshot: StatsSnapshot | undefined;
    try {
      snapshot = await this.o.stats();
    } catch (err) {
      if (this.rounds % 10 === 1) this.log(`cannot read the router's statistics: ${(err as Error).message}`);
      return false;
    }
    if (!snapshot) return false;
    this.analyses.sample(snapshot);
    return true;
  }

  /** Makes instances and traffic match the status; one at a time, and once more if asked while running. */
  private async reconcile(): Promise<void> {
    if (this.reconciling) {
      this.reconcileAgain = true;
      return this.reconciling;
    }
    this.reconciling = (async () => {
      do {
        this.reconcileAgain = false;
        if (this.closed) return;
        // A store that writes behind: nothing moves forward before a restart would resume from it.
        const waiting = this.saving.barrier?.waitFor(this.statusNow);
        if (waiting) {
          void waiting.then(() => void this.reconcile());
          return;
        }
        this.instances.reconcile(this.traffic.drained());
        await this.traffic.reconcile(this.rounds);
      } while (this.reconcileAgain);
    })().finally(() => (this.reconciling = undefined));
    return this.reconciling;
  }

  private log(line: string): void {
    this.o.log?.(`${this.name}: ${line}`);
  }
}
