/**
 * The controller of `kanari up`: every applied rollout with its engine and its service on
 * the one router process they share, all kept in one SQLite file under the state
 * directory. Opening a controller on a state directory resumes every rollout from what was
 * saved there — after a clean stop or a `kill -9` alike — adopting the router and the
 * instances that kept running.
 */
import { dirname, join, resolve } from 'node:path';
import { ConfigError, formatPath } from '../config/errors.js';
import { loadDocuments } from '../config/kinds.js';
import { rolloutModeOf } from '../config/rollout-mode.js';
import { checkLimits } from '../config/bounds.js';
import { parseDocuments } from '../config/load.js';
import type { AnalysisTemplateDocument, AnalysisTemplateSpec } from '../config/schemas/analysis.js';
import { target as targetSchema, type RolloutDocument, type TargetSpec } from '../config/schemas/rollout.js';
import type { RolloutEngine } from '../rollout/engine.js';
import { sizedDocument } from '../rollout/sizes.js';
import type { UntimedEvent } from '../rollout/types.js';
import { describeSystemError } from '../shared/system.js';
import { Store } from '../store/sqlite.js';
import { rolloutSeries, type SeriesRange } from './series.js';
import type { ProcessRecord } from '../targets/process.js';
import { RouterProcess } from '../traffic/router-process.js';
import { RouterService } from '../traffic/router-service.js';
import { bundleReader, type Bundle } from './bundle.js';
import { standaloneEngine } from './compose.js';
import { LagHistogram } from './metrics.js';
import { rolloutView, type RolloutView } from './view.js';

/** An error with the HTTP status it maps to: 400 bad input, 404 no such rollout, 409 refused now. */
export class ControllerError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
    readonly issues?: ConfigError['issues'],
  ) {
    super(message);
  }
}

/** Linux allows 107 bytes in a unix socket path. */
const MAX_SOCKET_PATH = 107;

export type Command = Extract<UntimedEvent['type'], 'promote' | 'abort' | 'pause' | 'resume' | 'retry' | 'undo'>;
export const COMMANDS: readonly Command[] = ['promote', 'abort', 'pause', 'resume', 'retry', 'undo'];

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
  /** The one router process every rollout's service runs in; started when the first rollout writes traffic. */
  private readonly router: RouterProcess;

  constructor(
    readonly stateDir: string,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.store = new Store(join(stateDir, 'kanari.db'));
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
  async apply(file: string, text: string, bundle?: Bundle): Promise<ApplyResult[]> {
    let docs;
    try {
      docs = loadDocuments(file, text, undefined, bundle && bundleReader(bundle));
    } catch (err) {
      if (err instanceof ConfigError) throw new ControllerError(400, `${file} is not valid`, err.issues);
      throw err;
    }
    const templates = Object.fromEntries(
      docs
        .filter((d) => d.kind === 'AnalysisTemplate')
        .map((d) => [(d.value as AnalysisTemplateDocument).metadata.name, (d.value as AnalysisTemplateDocument).spec]),
    );
    const kubernetes = docs.filter((d) => d.kind === 'Rollout' && rolloutModeOf(d.value) === 'kubernetes');
    if (kubernetes.length > 0)
      throw new ControllerError(
        400,
        `${file} holds a Kubernetes Rollout (it has spec.workloadRef), which the kanari operator runs in a cluster: apply it with kubectl apply -f`,
      );
    const rollouts = docs
      .filter((d) => d.kind === 'Rollout')
      .map((d) => anchorProcesses(d.value as RolloutDocument, dirname(file)));
    if (rollouts.length === 0)
      throw new ControllerError(
        400,
        `${file} holds no Rollout (kinds: ${docs.map((d) => d.kind).join(', ') || 'none'})`,
      );
    for (const doc of rollouts) this.checkChange(doc);
    const results: ApplyResult[] = [];
    for (const doc of rollouts) results.push(await this.replace(doc, templates));
    return results;
  }

  /** Starts a rollout of `version`: the spec's canary target with `set` (`canary.process.command=…`) laid over it. */
  async deploy(name: string, version: string, set: Record<string, string> = {}): Promise<RolloutView> {
    const m = this.get(name);
    const router = m.router.health();
    if (router && !router.serving)
      throw new ControllerError(
        409,
        `the router of ${name} is not serving (${router.reason}); a deploy would move nobody: fix that first (kanari status ${name} shows when it serves)`,
      );
    const target = withOverrides(m.document.spec.canary, set);
    return this.send(name, { type: 'deploy', release: { version, target: { ...target, version } } });
  }

  command(name: string, command: Command, options: { full?: boolean; reason?: string } = {}): Promise<RolloutView> {
    const event = (
      command === 'promote'
        ? { type: 'promote', full: options.full === true }
        : command === 'abort'
          ? { type: 'abort', ...(options.reason ? { reason: options.reason } : {}) }
          : { type: command }
    ) as UntimedEvent;
    return this.send(name, event);
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
      types: [
        'deploy',
        'promote',
        'abort',
        'pause',
        'resume',
        'retry',
        'undo',
        'status',
        'result',
        'analysisVerdict',
        'analysisStopped',
        'instanceFailed',
        'notificationFailed',
      ],
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
    if (!m)
      throw new ControllerError(
        404,
        `no rollout named ${name}${this.rollouts.size ? ` (known: ${this.names().join(', ')})` : '; apply one with kanari apply -f FILE'}`,
      );
    return m;
  }

  private async send(name: string, event: UntimedEvent): Promise<RolloutView> {
    const t = await this.get(name).engine.send(event);
    if (t.rejected) throw new ControllerError(409, t.rejected);
    return this.view(name);
  }

  /** A rollout's file may change between rollouts, not during one; and stable is only its first release. */
  private checkChange(doc: RolloutDocument): void {
    const name = doc.metadata.name;
    const m = this.rollouts.get(name);
    const socket = this.socketPath();
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH)
      throw new ControllerError(
        400,
        `rollout ${name}: the router's admin socket ${socket} is longer than a unix socket path may be (${MAX_SOCKET_PATH} bytes); use a shorter --state directory`,
      );
    if (doc.spec.listen.port === 0)
      throw new ControllerError(400, `rollout ${name}: spec.listen needs a fixed port that users can reach (got 0)`);
    const taken = [...this.rollouts.values()].find(
      (o) => o.document.metadata.name !== name && o.document.spec.listen.port === doc.spec.listen.port,
    );
    if (taken)
      throw new ControllerError(
        409,
        `rollout ${name}: port ${doc.spec.listen.port} is already where rollout ${taken.document.metadata.name} listens`,
      );
    if (!m || JSON.stringify(m.document) === JSON.stringify(doc)) return;
    const s = m.engine.status;
    if (s.phase !== 'StableOnly' && s.phase !== 'Aborted')
      throw new ControllerError(
        409,
        `rollout ${name} is in phase ${s.phase} (${s.canary?.version}); its file can change once this rollout ends — promote or abort it first`,
      );
    if (JSON.stringify(m.document.spec.stable) !== JSON.stringify(doc.spec.stable)) {
      throw new ControllerError(
        409,
        `rollout ${name}: spec.stable only names the first release and ${s.stable.version} runs now; ship a new version with kanari deploy ${name} --version V`,
      );
    }
  }

  private async replace(doc: RolloutDocument, templates: Record<string, AnalysisTemplateSpec>): Promise<ApplyResult> {
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
    this.log(`${name}: ${old ? 'configured' : 'created'}`);
    return { name, change: old ? 'configured' : 'created' };
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

/** Process targets run in the rollout file's directory unless they say otherwise. */
function anchorProcesses(doc: RolloutDocument, dir: string): RolloutDocument {
  const anchor = (t: TargetSpec | undefined) =>
    t?.process ? { ...t, process: { ...t.process, cwd: resolve(dir, t.process.cwd ?? '.') } } : t;
  const spec = {
    ...doc.spec,
    stable: anchor(doc.spec.stable)!,
    canary: anchor(doc.spec.canary)!,
    ...(doc.spec.baseline ? { baseline: anchor(doc.spec.baseline) } : {}),
  };
  return { ...doc, spec };
}

/**
 * `--set canary.process.command=…`: each key is a path under `canary`, each value YAML
 * (so `canary.process.instances=3` is a number). The result is validated like the file.
 */
export function withOverrides(canary: TargetSpec, set: Record<string, string>): TargetSpec {
  if (Object.keys(set).length === 0) return canary;
  const draft = structuredClone(canary) as Record<string, unknown>;
  // The size comes from the fields again once they are validated (`--set canary.process.instances=3` changes it).
  delete draft.size;
  // Durations are kept in ms once loaded; give them back as the file wrote them for re-validation.
  if (draft.process) {
    const p = draft.process as Record<string, unknown>;
    p.startTimeout = `${p.startTimeout as number}ms`;
    p.stopTimeout = `${p.stopTimeout as number}ms`;
  }
  for (const [key, text] of Object.entries(set)) {
    const path = key.split('.');
    if (path[0] !== 'canary' || path.length < 2)
      throw new ControllerError(
        400,
        `--set ${key}: only keys under canary can be set for a deploy (such as canary.process.command)`,
      );
    // Keys name fields, never what every object inherits: canary.__proto__.x would write to Object.prototype.
    const bad = path.find((part) => part === '__proto__' || part === 'constructor' || part === 'prototype');
    if (bad) throw new ControllerError(400, `--set ${key}: "${bad}" is not a field kanari knows`);
    let node = draft;
    for (const part of path.slice(1, -1)) {
      if (!Object.hasOwn(node, part) || typeof node[part] !== 'object' || node[part] === null) node[part] = {};
      node = node[part] as Record<string, unknown>;
    }
    node[path.at(-1)!] = parseScalar(key, text);
  }
  const parsed = targetSchema.safeParse(draft);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ControllerError(400, `--set: canary.${formatPath(issue.path as PropertyKey[])}: ${issue.message}`);
  }
  return parsed.data;
}

function parseScalar(key: string, text: string): unknown {
  // Bounded like any file: a value nested thousands deep is refused, not parsed into an abort.
  const breach = checkLimits(text);
  if (breach) throw new ControllerError(400, `--set ${key}: the value ${breach.message}`);
  let v: unknown;
  try {
    v = parseDocuments(text, `--set ${key}`)[0]?.value;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return text; // not YAML (`a: b: c`): the text it is
  }
  // Scalars and lists as YAML; anything else (`echo a: b` reads as a map) as the text it is.
  return v === null || v === undefined || (typeof v === 'object' && !Array.isArray(v)) ? text : v;
}
