/**
 * The controller of `kanari up`: every applied rollout with its engine and its service on
 * the one router process they share, all kept in one SQLite file under the state
 * directory. Opening a controller on a state directory resumes every rollout from what was
 * saved there — after a clean stop or a `kill -9` alike — adopting the router and the
 * instances that kept running.
 */
import { join } from 'node:path';
import { EMBEDDED, heldWeightProblem } from '../config/capabilities.js';
import type { AnalysisTemplateSpec } from '../config/schemas/analysis.js';
import type { RolloutDocument } from '../config/schemas/rollout.js';
import type { RolloutEngine } from '../rollout/engine.js';
import { commandEvent, type Command } from '../rollout/person-command.js';
import { sizedDocument } from '../rollout/sizes.js';
import type { UntimedEvent } from '../rollout/types.js';
import { describeSystemError } from '../shared/system.js';
import { Store } from '../store/sqlite.js';
import { HISTORY_TYPES, rolloutSeries, type SeriesRange } from './series.js';
import type { ProcessRecord } from '../targets/process.js';
import { RouterProcess } from '../traffic/router-process.js';
import { RouterService } from '../traffic/router-service.js';
import { readRolloutFile, refuseChange } from './apply-file.js';
import type { Bundle } from './bundle.js';
import { ControllerError } from './controller-error.js';
import { Deletions } from './deletions.js';
import { withOverrides } from './overrides.js';
import { standaloneEngine } from './compose.js';
import { LagHistogram } from './metrics.js';
import { rolloutView, type RolloutView } from './view.js';

export { ControllerError } from './controller-error.js';
export { withOverrides } from './overrides.js';

export { COMMANDS, type Command } from '../rollout/person-command.js';

interface Managed {
  document: RolloutDocument;
  templates: Record<string, AnalysisTemplateSpec>;
  engine: RolloutEngine;
  router: RouterService;
}

export interface ApplyResult {
  name: string;
  change: 'created' | 'configured' | 'unchanged';
}

export class Controller {
  readonly store: Store;
  private readonly rollouts = new Map<string, Managed>();
  /** Deletes under way, and those an earlier controller left half done. */
  private readonly deletions: Deletions;
  /** The one router process every rollout's service runs in; started when the first rollout writes traffic. */
  private readonly router: RouterProcess;

  constructor(
    readonly stateDir: string,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.store = new Store(join(stateDir, 'kanari.db'));
    this.deletions = new Deletions({
      store: this.store,
      get: (name) => this.get(name),
      deleted: (name) => this.rollouts.delete(name),
      log,
    });
    // Its pid is kept under no rollout ('' is no rollout's name).
    this.router = new RouterProcess({
      dir: join(stateDir, 'router'),
      socket: this.socketPath(),
      persist: (record) => this.saveRecord('', record, log),
      recall: () => this.store.record<ProcessRecord>('', 'router'),
      log,
    });
  }

  /** Resumes every rollout the store holds. */
  start(): void {
    for (const saved of this.store.rollouts()) {
      // Saved documents and templates were validated when they were applied; ones saved before targets had sizes get them.
      this.open(
        sizedDocument(saved.document as RolloutDocument),
        saved.templates as Record<string, AnalysisTemplateSpec>,
      );
      this.log(`${saved.name}: resumed in phase ${saved.status.phase}`);
      // A delete the last controller began (it stopped or died midway) is finished, not undone.
      if (this.deletions.begun(saved.name)) void this.deletions.finish(saved.name).catch(() => {});
    }
  }

  names(): string[] {
    return [...this.rollouts.keys()].sort();
  }

  /**
   * Applies a file's Rollouts (with the AnalysisTemplates beside them). `file` locates
   * errors and anchors relative paths: a process target runs in the file's directory
   * unless it names its own `cwd`. With a `bundle`, files the documents reference are read
   * from it, never from this host's disk.
   */
  async apply(file: string, text: string, bundle?: Bundle, actor?: string): Promise<ApplyResult[]> {
    const { rollouts, templates } = readRolloutFile(file, text, bundle);
    for (const doc of rollouts) this.checkChange(doc);
    const results: ApplyResult[] = [];
    for (const doc of rollouts) results.push(await this.replace(doc, templates, actor));
    return results;
  }

  /** Starts a rollout of `version`: the spec's canary target with `set` (`canary.process.command=…`) laid over it. */
  async deploy(name: string, version: string, set: Record<string, string> = {}, actor?: string): Promise<RolloutView> {
    const m = this.get(name);
    const router = m.router.health();
    if (router && !router.serving)
      throw new ControllerError(
        409,
        `the router of ${name} is not serving (${router.reason}); a deploy would move nobody: fix that first (kanari status ${name} shows when it serves)`,
      );
    const target = withOverrides(m.document.spec.canary, set);
    return this.send(name, {
      type: 'deploy',
      release: { version, target: { ...target, version } },
      ...(actor === undefined ? {} : { actor }),
    });
  }

  /** A person's command; `actor` (who asked) goes into the event log with it. */
  command(
    name: string,
    command: Command,
    options: { full?: boolean; reason?: string } = {},
    actor?: string,
  ): Promise<RolloutView> {
    return this.send(name, { ...commandEvent(command, options), ...(actor === undefined ? {} : { actor }) });
  }

  /** Holds the canary at `weight` percent until resume, promote or abort (set-weight). */
  setWeight(name: string, weight: number, reason?: string, actor?: string): Promise<RolloutView> {
    this.get(name);
    // Standalone rollouts run on kanari's own router; a Kubernetes router is asked by the operator.
    const problem = heldWeightProblem(EMBEDDED, weight);
    if (problem) throw new ControllerError(400, `set-weight ${weight}: ${problem}`);
    return this.send(name, {
      type: 'setWeight',
      weight,
      ...(reason ? { reason } : {}),
      ...(actor === undefined ? {} : { actor }),
    });
  }

  /**
   * Deletes a rollout: its instances stop, its service leaves the router, its rows go (the
   * event log stays, ended by `deleted`). One in flight is refused unless `force`, which
   * aborts it and deletes it only once users are back on stable and the canary has stopped.
   */
  remove(name: string, options: { force?: boolean } = {}, actor?: string): Promise<{ name: string; deleted: true }> {
    return this.deletions.remove(name, options, actor);
  }

  /** Whether the controller holds a rollout of this name. */
  has(name: string): boolean {
    return this.rollouts.has(name);
  }

  /** A 404 saying which rollouts there are, for a name the controller does not hold. */
  known(name: string): void {
    if (!this.has(name)) throw this.unknown(name);
  }

  view(name: string): RolloutView {
    const m = this.get(name);
    return rolloutView(m.document, m.engine.status, Date.now(), (id) => m.engine.report(id), {
      router: m.router.health(),
      store: m.engine.storeError,
    });
  }

  views(): RolloutView[] {
    return this.names().map((n) => this.view(n));
  }

  /** The newest `limit` events a person cares about, oldest first (not ticks, acknowledgements or announcements). */
  history(name: string, options: { limit?: number } = {}) {
    this.get(name);
    return this.store.events(name, {
      after: this.store.deletedAt(name),
      types: [...HISTORY_TYPES],
      limit: options.limit ?? 1000,
    });
  }

  /** The rollout's traffic and evidence over [from, to), as at most `points` buckets, with its step boundaries. */
  async series(name: string, range: SeriesRange) {
    this.get(name);
    return await rolloutSeries(this.store.history, name, range);
  }

  report(name: string, id: string) {
    const report = this.get(name).engine.report(id);
    if (!report) throw new ControllerError(404, `rollout ${name} has no analysis run ${id}`);
    return report;
  }

  /** How late each rollout's last round started, in ms (the controller's own health). */
  lags(): Map<string, number> {
    return new Map([...this.rollouts].map(([name, m]) => [name, m.engine.lag]));
  }

  /** Every round's lateness since the controller started, as a histogram. */
  readonly roundLag = new LagHistogram();

  /**
   * Stops the controller. Routers and instances keep running for the next one, unless
   * `everything`, which stops them too (`kanari down --all`).
   */
  async close(options: { everything?: boolean } = {}): Promise<void> {
    await Promise.all(
      [...this.rollouts.values()].map(async (m) => {
        await m.engine.close({
          stopInstances: options.everything === true,
          stopReason: 'kanari down --all stopped the controller and the versions it judged',
        });
        // Every service stays in the router's state, so the next `kanari up` opens them all again.
        m.router.release();
        if (options.everything) this.saveRecord(m.document.metadata.name, undefined, this.log);
      }),
    );
    if (options.everything) await this.router.stop();
    else this.router.release();
    this.rollouts.clear();
    this.store.close();
  }

  private socketPath(): string {
    return join(this.stateDir, 'run', 'router.sock');
  }

  private saveRecord(rollout: string, record: ProcessRecord | undefined, log: (line: string) => void): void {
    try {
      this.store.setRecord(rollout, 'router', record);
    } catch (err) {
      // The router serves either way; a restarted controller that cannot adopt it starts another.
      log(`cannot save the router's pid: ${describeSystemError(err)}`);
    }
  }

  private get(name: string): Managed {
    const m = this.rollouts.get(name);
    if (!m) throw this.unknown(name);
    return m;
  }

  private unknown(name: string): ControllerError {
    return new ControllerError(
      404,
      `no rollout named ${name}${this.rollouts.size ? ` (known: ${this.names().join(', ')})` : '; apply one with kanari apply -f FILE'}`,
    );
  }

  private async send(name: string, event: UntimedEvent): Promise<RolloutView> {
    const m = this.get(name);
    // A retry or deploy while a forced delete waits for the rollback would start what the delete then tears down.
    if (this.deletions.has(name)) throw new ControllerError(409, `rollout ${name} is being deleted`);
    this.deletions.refuseHalfDeleted(name);
    const t = await m.engine.send(event);
    if (t.rejected) throw new ControllerError(409, t.rejected);
    return this.view(name);
  }

  /** Refuses a change an apply cannot make now (`refuseChange`), or one to a rollout being deleted. */
  private checkChange(doc: RolloutDocument): void {
    const name = doc.metadata.name;
    if (this.deletions.has(name))
      throw new ControllerError(409, `rollout ${name} is being deleted; apply it again once it is gone`);
    if (this.rollouts.has(name)) this.deletions.refuseHalfDeleted(name);
    refuseChange(doc, this.socketPath(), this.rollouts.values());
  }

  private async replace(
    doc: RolloutDocument,
    templates: Record<string, AnalysisTemplateSpec>,
    actor?: string,
  ): Promise<ApplyResult> {
    const name = doc.metadata.name;
    const old = this.rollouts.get(name);
    if (
      old &&
      JSON.stringify(old.document) === JSON.stringify(doc) &&
      JSON.stringify(old.templates) === JSON.stringify(templates)
    )
      return { name, change: 'unchanged' };
    if (old) {
      await old.engine.close();
      // A service's listen and sticky are set when it is added; the table it persisted carries over.
      const routerChanged =
        JSON.stringify([old.document.spec.listen, old.document.spec.sticky]) !==
        JSON.stringify([doc.spec.listen, doc.spec.sticky]);
      if (routerChanged) await old.router.stop();
      else old.router.release();
    }
    this.open(doc, templates);
    const change = old ? 'configured' : 'created';
    this.log(`${name}: ${change}${actor === undefined ? '' : ` by ${actor}`}`);
    // Its own row, outside the engine's transitions: a file changes nothing the machine holds.
    const engine = this.rollouts.get(name)!.engine;
    try {
      this.store.appendEvent(name, engine.status.revision, Date.now(), 'apply', {
        change,
        ...(actor === undefined ? {} : { actor }),
      });
    } catch (err) {
      // The rollout is applied either way; only its line in the history is lost.
      this.log(`${name}: cannot record the apply in the event log: ${describeSystemError(err)}`);
    }
    return { name, change };
  }

  private open(document: RolloutDocument, templates: Record<string, AnalysisTemplateSpec>): void {
    const name = document.metadata.name;
    const log = (line: string) => this.log(line.startsWith(`${name}: `) ? line : `${name}: ${line}`);
    let said = '';
    const router = new RouterService({
      name,
      spec: document.spec,
      router: this.router,
      persist: (record) => this.saveRecord(name, record, log),
      log,
    });
    const engine = standaloneEngine({
      document,
      templates,
      store: this.store,
      connect: router.connect,
      stats: () => router.stats(),
      logDir: join(this.stateDir, 'logs', name),
      log,
      onRound: (lag) => this.roundLag.observe(lag / 1000),
      onTransition: (t) => {
        if (t.status.message !== said) log(t.status.message);
        said = t.status.message;
      },
    });
    this.rollouts.set(name, { document, templates, engine, router });
    engine.start();
  }
}
