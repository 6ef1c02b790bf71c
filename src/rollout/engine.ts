/**
 * The rollout engine: runs one rollout's state machine against the world with a clock.
 * Every `analysisInterval` it samples the router's statistics, makes the status true
 * (instances started or stopped, the routing table written), ticks the analysis runs,
 * and feeds what happened back to the machine as events. Every transition is saved
 * before anything acts on it, so after a crash the saved status is simply made true
 * again: adopted processes, the same table, analyses resumed with their measurements.
 * Only when the store cannot be written does a transition act unsaved, and then only one
 * that takes users off versions: a rollback never waits for the disk, and nothing moves
 * forward that a restart would undo.
 */
import type { AnalysisTemplateSpec } from '../config/schemas/analysis.js';
import type { RolloutDocument } from '../config/schemas/rollout.js';
import { AnalysisRun, type AnalysisReport, type RunEnvironment } from '../analysis/run.js';
import { BuiltinProvider, StatsRecorder } from '../analysis/providers/builtin.js';
import { Providers } from '../analysis/providers/index.js';
import { BUILTIN_TEMPLATES } from '../config/templates.js';
import type { StatsSnapshot } from '../shared/stats-snapshot.js';
import type { Store } from '../store/sqlite.js';
import { Targets } from '../targets/index.js';
import type { ProcessRecord } from '../targets/process.js';
import type { TrafficRouter } from '../traffic/types.js';
import { countOf, initialStatus, transition } from './machine.js';
import { Notifier, payloadOf } from './notify.js';
import { Gates } from './webhooks.js';
import { Saving } from './saving.js';
import type { RolloutEvent, RolloutStatus, Transition, UntimedEvent } from './types.js';

/** How long router statistics are kept (and so the longest window a builtin query can ask for). */
const STATS_RETENTION = 3_600_000;
/** A crashed instance is not restarted more often than this. */
const RESTART_BACKOFF = 2000;
/** Every this many ticks the routing table is written again, in case the router lost it. */
const REAPPLY_EVERY = 10;
/**
 * For this long after the split changes, windows mix the old and the new share, so the
 * sample-ratio guard is not asked about them.
 */
const SETTLE_MS = 2500;
/**
 * An instance the router no longer sends anything to is stopped only after this long,
 * so requests it was already serving finish rather than fail.
 */
const DRAIN_MS = 2000;
/**
 * Analyses wait this long for the router's statistics before measuring without them (and
 * so finding no requests, which pauses the rollout rather than passing it).
 */
const STATS_GRACE_MS = 10_000;

export interface EngineOptions {
  document: RolloutDocument;
  /** AnalysisTemplate documents applied with the rollout, by name (built-ins are always there). */
  templates?: Record<string, AnalysisTemplateSpec>;
  store: Store;
  traffic: TrafficRouter;
  /** The router's cumulative statistics, for the builtin provider; undefined while there is no router yet. */
  stats: () => Promise<StatsSnapshot | undefined>;
  logDir: string;
  clock?: () => number;
  /** Called after every accepted transition (the demo prints from here). */
  onTransition?: (t: Transition, event: RolloutEvent) => void;
  /** Called as each round starts, with how late (ms) it is after its slot. */
  onRound?: (lagMs: number) => void;
  log?: (line: string) => void;
}

export class RolloutEngine {
  readonly name: string;
  readonly recorder = new StatsRecorder(STATS_RETENTION);
  private statusNow: RolloutStatus;
  private readonly targets: Targets;
  private readonly runs = new Map<string, AnalysisRun>();
  private readonly env: RunEnvironment;
  private readonly clock: () => number;
  private queue: Promise<unknown> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private ticks = 0;
  /** How late (ms) the last round started after its slot on the `analysisInterval` grid. */
  lag = 0;
  private sampledAt: number;
  /**
   * What this engine last wrote to the router (`seq`), and since when the split has been
   * what it is (`at`, unchanged by rewriting the same table): the sample-ratio guard and
   * draining go by this, not by the wish.
   */
  private applied?: { seq: number; traffic: RolloutStatus['traffic']; at: number };
  private readonly removing = new Set<string>();
  private readonly resizing = new Set<string>();
  /** An instance's processes changed (a rolling wave, a restore), so the table must be written again. */
  private endpointsChanged = false;
  private readonly gates: Gates;
  /** How many of each run's measurements are in the store already. */
  private readonly savedMeasurements = new Map<string, number>();
  private readonly notifier: Notifier;
  /** The last report of each run in the status, as saved. */
  private readonly reports = new Map<string, AnalysisReport>();
  private readonly failedAt = new Map<string, number>();
  private closed = false;
  private reconciling?: Promise<void>;
  private reconcileAgain = false;
  private readonly saving: Saving;
  /** The last reason the router did not take a table, until one is taken. */
  private trafficError?: string;

  constructor(private readonly o: EngineOptions) {
    this.name = o.document.metadata.name;
    this.clock = o.clock ?? Date.now;
    this.saving = new Saving(o.store, this.name, this.clock, (line) => this.log(line));
    this.sampledAt = this.clock();
    const saved = o.store.rollout(this.name);
    this.statusNow = saved?.status ?? initialStatus(o.document.spec, this.clock());
    o.store.putRollout({ name: this.name, document: o.document, templates: o.templates ?? {}, status: this.statusNow });
    for (const d of o.store.deltas(this.name)) this.recorder.append(d);
    const last = o.store.lastSnapshot(this.name);
    if (last) this.recorder.record(last);
    const key = (id: string) => `instance:${id}`;
    this.targets = new Targets({
      logDir: o.logDir,
      persist: (id, record) => void this.saving.write(() => o.store.setRecord(this.name, key(id), record)),
      recall: (id) => o.store.record<ProcessRecord>(this.name, key(id)),
      onExit: (id, reason) => {
        this.failedAt.set(id, this.clock());
        this.log(`${id} exited: ${reason}`);
        void this.send({ type: 'instanceFailed', id, reason });
      },
    });
    this.notifier = new Notifier(o.document.spec.notifications, (url, reason) => {
      this.log(`notification to ${url} failed: ${reason}`);
      if (!this.closed)
        this.saving.write(() =>
          o.store.appendEvent(this.name, this.statusNow.revision, this.clock(), 'notificationFailed', { url, reason }),
        );
    });
    this.gates = new Gates(this.name, o.document.spec.webhooks, (e) => void this.send(e));
    this.env = {
      service: this.name,
      providers: new Providers(new BuiltinProvider(this.recorder)),
      recorder: this.recorder,
      expectedShare: () =>
        this.applied && this.clock() - this.applied.at >= SETTLE_MS ? expectedShare(this.applied.traffic) : undefined,
      hasBaseline: () => this.statusNow.traffic.baseline !== undefined && this.statusNow.traffic.weights.baseline > 0,
    };
  }

  get status(): RolloutStatus {
    return this.statusNow;
  }

  get spec(): RolloutDocument['spec'] {
    return this.o.document.spec;
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
    let due = Date.now();
    const loop = () => {
      if (this.closed) return;
      this.lag = Math.max(0, Date.now() - due);
      this.o.onRound?.(this.lag);
      void this.tick().finally(() => {
        due += every;
        while (due + every < Date.now()) due += every;
        if (!this.closed) this.timer = setTimeout(loop, Math.max(0, due - Date.now()));
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

  /** Runs one round now (tests call this instead of waiting for the timer). */
  tick(): Promise<void> {
    // A round that throws is a bug, but it must not take every other rollout down with it.
    this.ticking ??= this.round()
      .catch((err: Error) => this.log(`a round failed: ${err.stack ?? err.message}`))
      .finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  /**
   * Stops ticking. `stopInstances` stops process instances too (the demo); without it
   * they keep running for the next controller, as the router does.
   */
  async close(options: { stopInstances?: boolean } = {}): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.ticking;
    await this.queue;
    if (options.stopInstances) await this.targets.stopAll();
    else this.targets.detach();
  }

  /** An analysis run's report as of its last tick (views ask for it on every API call and scrape). */
  report(id: string): AnalysisReport | undefined {
    return this.reports.get(id) ?? this.o.store.runReport(this.name, id);
  }

  private dispatch(e: UntimedEvent): Transition {
    const event = { ...e, at: this.clock() } as RolloutEvent;
    const before = this.statusNow;
    const t = transition(this.spec, before, event);
    if (t.rejected) return t;
    const s = t.status;
    const refused = this.saving.transition(e, event.at, before, t);
    if (refused) return { status: before, actions: [], rejected: refused };
    this.statusNow = s;
    for (const a of t.actions) this.notifier.send(payloadOf(this.name, a, s, event.at));
    this.o.onTransition?.(t, event);
    // A rollback (or any new split) goes to the router now, not at the next tick.
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
    this.ticks++;
    // Traffic first: after a restart this is what reaches (or adopts) the router to sample.
    await this.reconcile();
    const sampled = await this.sample();
    // After the sample, so this round's measurements include the delta it just recorded.
    const now = this.clock();
    if (sampled) this.sampledAt = now;
    // A round without fresh statistics would measure the controller's own gap (a restart,
    // a router not reached yet) as "no requests"; for a short while analyses wait instead.
    if (sampled || now - this.sampledAt > STATS_GRACE_MS) await this.tickAnalyses(now);
    await this.send({ type: 'tick' });
    if (!this.closed) this.gates.poll(this.statusNow, this.clock());
  }

  /** Records the router's statistics; false when there were none to take. */
  private async sample(): Promise<boolean> {
    let snapshot: StatsSnapshot | undefined;
    try {
      snapshot = await this.o.stats();
    } catch (err) {
      if (this.ticks % 10 === 1) this.log(`cannot read the router's statistics: ${(err as Error).message}`);
      return false;
    }
    if (!snapshot) return false;
    const delta = this.recorder.record(snapshot);
    // Kept in memory either way: analyses (and the rollbacks they decide) do not wait for the disk.
    this.saving.write(() =>
      this.o.store.transaction(() => {
        if (delta) this.o.store.addDelta(this.name, delta, STATS_RETENTION);
        this.o.store.setRecord(this.name, 'stats', snapshot);
      }),
    );
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
        this.reconcileInstances();
        await this.reconcileTraffic();
      } while (this.reconcileAgain);
    })().finally(() => (this.reconciling = undefined));
    return this.reconciling;
  }

  private reconcileInstances(): void {
    const s = this.statusNow;
    const drained =
      this.applied !== undefined && s.appliedSeq === s.trafficSeq && this.clock() - this.applied.at >= DRAIN_MS;
    for (const inst of s.instances) {
      if (this.targets.has(inst.id)) {
        const size = this.targets.size(inst.id);
        const want = countOf(inst);
        if (size !== undefined && size !== want) {
          // Growing can start now; shrinking waits until the router stopped using the processes that go.
          if (!this.resizing.has(inst.id) && (want > size || drained)) this.resize(inst.id, want);
          continue;
        }
        if (!s.ready.includes(inst.id) && !this.resizing.has(inst.id))
          void this.send({ type: 'instanceReady', id: inst.id });
        continue;
      }
      if (this.targets.isStarting(inst.id) || this.clock() - (this.failedAt.get(inst.id) ?? 0) < RESTART_BACKOFF)
        continue;
      this.targets.ensure(inst).then(
        () => {
          // An adopted group may be smaller than the one in the table (it lost an instance).
          this.endpointsChanged = true;
          return this.send({ type: 'instanceReady', id: inst.id });
        },
        (err: Error) => {
          this.failedAt.set(inst.id, this.clock());
          this.log(`${inst.id} did not start: ${err.message}`);
          return this.send({ type: 'instanceFailed', id: inst.id, reason: err.message });
        },
      );
    }
    for (const id of s.stopping) {
      if (this.removing.has(id) || !drained) continue;
      this.removing.add(id);
      this.targets
        .remove(id)
        .then(
          () => this.send({ type: 'instanceStopped', id }),
          (err: Error) => this.log(`stopping ${id}: ${err.message}`),
        )
        .finally(() => this.removing.delete(id));
    }
  }

  private resize(id: string, count: number): void {
    this.resizing.add(id);
    this.log(`resizing ${id} to ${count} process${count === 1 ? '' : 'es'}`);
    this.targets
      .resize(id, count)
      .then(
        () => this.send({ type: 'instanceReady', id }),
        (err: Error) => this.send({ type: 'instanceFailed', id, reason: `resizing to ${count}: ${err.message}` }),
      )
      .finally(() => {
        this.resizing.delete(id);
        this.endpointsChanged = true;
        void this.reconcile();
      });
  }

  private async reconcileTraffic(): Promise<void> {
    const s = this.statusNow;
    const due =
      s.appliedSeq !== s.trafficSeq ||
      this.applied?.seq !== s.trafficSeq ||
      this.endpointsChanged ||
      this.ticks % REAPPLY_EVERY === 0;
    if (!due) return;
    const ids = [s.traffic.stable, s.traffic.canary, s.traffic.baseline].filter((id): id is string => id !== undefined);
    // Right after a restart the instances may still be being adopted; their addresses come with them.
    const known = (id: string) =>
      this.targets.has(id) ||
      (id === s.traffic.canary &&
        s.traffic.weights.canary === 0 &&
        s.traffic.routes.length === 0 &&
        s.traffic.mirror === 0);
    if (!ids.every(known)) return;
    this.endpointsChanged = false;
    const seq = s.trafficSeq;
    try {
      await this.o.traffic.apply(s.traffic, (id) => (this.targets.has(id) ? this.targets.endpoints(id) : []));
      this.trafficError = undefined;
      const unchanged = this.applied && JSON.stringify(this.applied.traffic) === JSON.stringify(s.traffic);
      this.applied = { seq, traffic: s.traffic, at: unchanged ? this.applied!.at : this.clock() };
      if (s.appliedSeq !== seq) await this.send({ type: 'trafficApplied', seq });
    } catch (err) {
      // Said once per reason, not on every round while the router stays out of reach.
      if ((err as Error).message !== this.trafficError)
        this.log(`the router did not take the new table: ${(err as Error).message}`);
      this.trafficError = (err as Error).message;
      await this.send({ type: 'trafficFailed', seq, reason: (err as Error).message });
    }
  }

  private async tickAnalyses(now: number): Promise<void> {
    for (const id of this.reports.keys())
      if (!this.statusNow.analyses.some((a) => a.id === id)) this.reports.delete(id);
    for (const entry of this.statusNow.analyses) {
      let run = this.runs.get(entry.id);
      if (entry.endedAt !== undefined) {
        if (run) {
          run.finish(now);
          this.saveRun(entry.id, run, run.report(), now);
          this.runs.delete(entry.id);
          this.savedMeasurements.delete(entry.id);
        }
        continue;
      }
      if (!run) {
        run = this.openRun(entry.id, entry.template, entry.scope, entry.startedAt);
        if (!run) continue;
        this.runs.set(entry.id, run);
      }
      await run.tick(now);
      const report = run.report();
      this.saveRun(entry.id, run, report, now);
      if (report.verdict !== entry.verdict || report.verdict !== 'Running')
        await this.send({ type: 'analysisVerdict', id: entry.id, verdict: report.verdict, reason: report.reason });
    }
  }

  private openRun(
    id: string,
    template: string,
    scope: 'step' | 'background',
    startedAt: number,
  ): AnalysisRun | undefined {
    const saved = this.o.store.run(this.name, id);
    if (saved) {
      this.savedMeasurements.set(id, saved.state.measurements.length);
      return AnalysisRun.resume(saved.state, this.env);
    }
    const spec = this.o.templates?.[template] ?? BUILTIN_TEMPLATES[template];
    if (!spec) {
      void this.send({
        type: 'analysisVerdict',
        id,
        verdict: 'Error',
        reason: `no analysis template named ${template}`,
      });
      return undefined;
    }
    return AnalysisRun.start(template, spec, scope, startedAt, this.env);
  }

  private saveRun(id: string, run: AnalysisRun, report: AnalysisReport, now: number): void {
    const from = this.savedMeasurements.get(id) ?? 0;
    const { state, added } = run.persisted(from);
    this.reports.set(id, report);
    // Measurements not saved now are saved with the next save that works.
    if (
      this.saving.write(() =>
        this.o.store.saveRun(this.name, this.statusNow.revision, id, state, report, now, { from, items: added }),
      )
    )
      this.savedMeasurements.set(id, from + added.length);
  }

  private log(line: string): void {
    this.o.log?.(`${this.name}: ${line}`);
  }
}

/** The canary's configured share of canary + control requests, when the split alone decides it. */
function expectedShare(t: RolloutStatus['traffic']): number | undefined {
  if (t.routes.length > 0 || t.canary === undefined) return undefined;
  const control =
    t.baseline !== undefined && t.weights.baseline > 0
      ? t.weights.baseline
      : 100 - t.weights.canary - t.weights.baseline;
  const total = t.weights.canary + control;
  return total > 0 ? t.weights.canary / total : undefined;
}
