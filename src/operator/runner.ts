/**
 * One Rollout resource under the operator: the engine that runs it, built from what the
 * resource and its workload say now (level-triggered: `update` is called on every change
 * and on every resync, and makes the world match whatever it finds).
 *
 * - The first time, kanari takes the workload's pods over: the template the Deployment
 *   runs becomes the stable version, run by a Deployment kanari owns; once that is ready,
 *   the referenced Deployment is scaled to zero (its original size kept in an
 *   annotation), and from then on it is only the source of templates (workload.ts).
 * - A template that is neither stable nor the canary (nor one just rolled back) starts a
 *   release. The referenced Deployment is kept at zero: scaled up again, it would roll
 *   every pod to the new template at once, and kanari scales it straight back.
 * - A person's command in the Rollout's annotation is carried out by its engine once, or
 *   refused with the reason (commands.ts).
 * - A restart resumes from the resource's status (`KubeStatusStore`): no state lives only
 *   in memory.
 * - Before it first touches anything of the user's, it puts its finalizer on the Rollout;
 *   once the Rollout is being deleted, its engine stops and the workload and routing are
 *   given back step by step (give-back.ts) before the finalizer goes.
 */
import { kubernetesRolloutDocument, type KubernetesRolloutDocument } from '../config/schemas/kubernetes.js';
import type { AnalysisTemplateSpec } from '../config/schemas/analysis.js';
import { formatPath } from '../config/errors.js';
import { rolloutProblems } from '../config/checks.js';
import { instanceName } from '../config/presets/counts.js';
import type { KubeClient, KubeObject, OwnerReference } from '../kube/api.js';
import { RolloutEngine } from '../rollout/engine.js';
import { systemClock } from '../rollout/seams/clock.js';
import type { TargetsFactory } from '../rollout/seams/targets.js';
import type { KubernetesRouterFactory, RoutedRollout } from '../traffic/kubernetes/index.js';
import { describeSystemError } from '../shared/system.js';
import { KubeStatusStore } from '../store/kubernetes.js';
import { recordEvent } from '../kube/events.js';
import { eventNote } from '../rollout/event-text.js';
import { KubeRunStore } from '../store/kubernetes-runs.js';
import { KubeRolloutLog } from '../store/kubernetes-log.js';
import { memoryStore } from '../store/memory.js';
import { record } from '../kube/versions.js';
import { engineDocument, ownerOf, releaseOf, versionOf, type DeploymentObject } from './release.js';
import { carryOutCommand, refusedCommand } from './commands.js';
import { addCleanupFinalizer, giveBack } from './give-back.js';
import { isIdle, releaseTemplates, type BuiltinTemplates, type TemplateLookup } from './templates.js';
import { holdWorkload, keepWorkloadHeld, workloadReplicas } from './workload.js';

/** The adapters a runner builds its engine with (the operator picks them; tests may give fakes). */
export interface RunnerWorld {
  client: KubeClient;
  identity: string;
  /** The lease term this replica leads in, stamped beside its identity on what it writes (kubernetes-writer.ts). */
  term?: number;
  traffic: KubernetesRouterFactory;
  targets(rollout: KubernetesRolloutDocument, owner: OwnerReference): TargetsFactory;
  /** The built-in templates as this Rollout has them (`sequential` counting from its Prometheus). */
  templates(rollout: KubernetesRolloutDocument): BuiltinTemplates;
  /** An AnalysisTemplate resource, for the templates a Rollout names that are not built in. */
  findTemplate: TemplateLookup;
  log(line: string): void;
  /** Another replica wrote this rollout: the operator stops leading. */
  lost(why: string): void;
}

/** What the composition root gives a runner; the operator adds its client, identity, log and the templates it watches. */
export type RunnerAdapters = Omit<RunnerWorld, 'client' | 'identity' | 'term' | 'log' | 'lost' | 'findTemplate'>;

export class RolloutRunner {
  private engine?: RolloutEngine;
  /** The templates the Rollout names, as read when its last release started (or is about to). */
  private templates: Record<string, AnalysisTemplateSpec> = {};
  /** The specs of those read from resources, as written: pinned in the status for a new leader. */
  private sources: Record<string, unknown> = {};
  private store?: KubeStatusStore;
  /** The event log and history in the ConfigMap beside the Rollout, written behind. */
  private log?: KubeRolloutLog;
  /** The Rollout as read when its templates last were: what its router counts by (the release's, like the judge). */
  private released?: KubernetesRolloutDocument;
  /** The Deployment whose pods kanari took over, once it has: held at zero even while the Rollout is refused. */
  private workload?: string;
  private said = new Set<string>();
  /** A line of the operator's log, saying which Rollout. */
  private readonly keyedLog = (line: string): void => this.world.log(`${this.key}: ${line}`);
  /** Closed for good (its leadership ended, or its Rollout went): it acts on nothing more. */
  private closed = false;
  readonly key: string;
  /** The resource this runner runs: one deleted and created again under the same name is another. */
  readonly uid: string | undefined;

  constructor(
    private resource: KubeObject,
    private readonly world: RunnerWorld,
  ) {
    this.key = `${resource.metadata.namespace}/${resource.metadata.name}`;
    this.uid = resource.metadata.uid;
  }

  get status() {
    return this.engine?.status;
  }

  /** Makes the world match `resource` as it is now; never throws (what goes wrong is logged and retried next time). */
  async update(resource: KubeObject): Promise<void> {
    if (this.closed) return;
    this.resource = resource;
    try {
      if (resource.metadata.deletionTimestamp) await this.giveBack();
      else await this.reconcile();
    } catch (err) {
      this.say(`cannot reconcile: ${describeSystemError(err)}`);
    }
  }

  /**
   * Stops acting: the engine stops first, leaving every version and route as it is for the
   * next leader; then its status and log get one last write, which the lease's fence refuses
   * once this leadership is over (what was not written is lost: the next leader resumes
   * from what is on the resources), and they write nothing more.
   */
  async close(): Promise<void> {
    this.closed = true;
    await this.stopEngine();
    await this.store?.close();
  }

  /** The engine stops; the runner goes on (giving a deleted Rollout back). */
  private async stopEngine(): Promise<void> {
    await this.engine?.close();
    this.engine = undefined;
    await this.log?.close();
    this.log = undefined;
  }

  private async reconcile(): Promise<void> {
    const parsed = kubernetesRolloutDocument.safeParse(this.resource);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return this.refuse(`the Rollout is not valid: ${formatPath(issue.path)}: ${issue.message}`);
    }
    const rollout = parsed.data;
    // Templates are read while no release runs, so the one that starts keeps what it read (as standalone, its file).
    const idle = !this.engine || isIdle(this.engine.status);
    if (idle) {
      const found = await releaseTemplates(this.resource, rollout, this.world, !this.engine, (l) => this.say(l));
      if ('problem' in found) return this.refuse(`the Rollout is refused: ${found.problem}`);
      this.templates = found.templates;
      this.sources = found.sources;
    }
    // What `kanari lint` refuses (a step the router cannot do, a judge that cannot judge here) is never run.
    const problem = rolloutProblems(rollout, this.templates)[0];
    if (problem) return this.refuse(`the Rollout is refused: ${formatPath(problem.path)}: ${problem.message}`);
    if (idle) this.engine?.useTemplates(this.templates);
    if (idle) this.released = rollout;
    if (idle) this.store?.pin(this.sources);
    this.store?.refuse(undefined);
    const namespace = this.resource.metadata.namespace ?? 'default';
    const workload = await this.world.client.get<DeploymentObject>({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace,
      name: rollout.spec.workloadRef.name,
    });
    const template = workload?.spec?.template;
    if (!workload || !template) return this.say(`waiting for Deployment ${namespace}/${rollout.spec.workloadRef.name}`);
    // observedGeneration stays the generation the engine was opened with: a plan edited
    // during a rollout is not what runs, and the status must not say it is.
    if (!this.engine) {
      const port = await this.servicePort(rollout, namespace);
      if (port === undefined) return this.say(`waiting for Service ${namespace}/${rollout.spec.service.name}`);
      // Before anything of the user's is touched: from here on, deleting the Rollout gives it back first.
      this.resource = await addCleanupFinalizer(this.world.client, this.resource);
      // Read before the engine's first event: its ids go on from what the last leader wrote.
      const log = await KubeRolloutLog.open({
        client: this.world.client,
        rollout: this.resource,
        identity: this.world.identity,
        term: this.world.term,
        log: this.keyedLog,
        control: () => ((this.engine?.status.traffic.weights.baseline ?? 0) > 0 ? 'baseline' : 'stable'),
      });
      // Closed while the log was read: no engine is opened for a leadership that is over.
      if (this.closed) return log.close(0);
      this.open(rollout, workload, port, log);
    }
    const engine = this.engine!;
    this.workload = workload.metadata.name;
    await this.command(engine, rollout, this.place(rollout, workload).replicas);
    const taken = engine.status.phase === 'StableOnly' && engine.status.ready.length > 0;
    await holdWorkload(this.world.client, workload, taken, this.keyedLog);
    const version = versionOf(template);
    const s = engine.status;
    const last = s.result;
    const known =
      version === s.stable.version ||
      version === s.canary?.version ||
      (last !== undefined && last.outcome !== 'Promoted' && last.release.version === version);
    if (known) return;
    const t = await engine.send({ type: 'deploy', release: releaseOf(template, this.place(rollout, workload)) });
    if (t.rejected) this.say(`template ${version} waits: ${t.rejected}`);
  }

  /** Carries out the person's command in the annotation, once (commands.ts); without `rollout`, set-weight is refused. */
  private command(engine: RolloutEngine, rollout?: KubernetesRolloutDocument, pods?: number): Promise<void> {
    const hands = { engine, store: this.store!, log: this.keyedLog, say: (line: string) => this.say(line) };
    return carryOutCommand(this.resource, hands, rollout, pods);
  }

  private place(rollout: KubernetesRolloutDocument, workload: DeploymentObject) {
    const replicas = workloadReplicas(rollout, workload);
    return { namespace: this.resource.metadata.namespace ?? 'default', service: rollout.spec.service.name, replicas };
  }

  /** The port routers send to: the Rollout's `service.port`, else the Service's first. */
  private async servicePort(rollout: KubernetesRolloutDocument, namespace: string): Promise<number | undefined> {
    const service = await this.world.client.get<KubeObject & { spec?: { ports?: { port?: unknown }[] } }>({
      apiVersion: 'v1',
      kind: 'Service',
      namespace,
      name: rollout.spec.service.name,
    });
    if (!service) return undefined;
    const first = service.spec?.ports?.[0]?.port;
    return rollout.spec.service.port ?? (typeof first === 'number' ? first : undefined);
  }

  private open(
    rollout: KubernetesRolloutDocument,
    workload: DeploymentObject,
    port: number,
    log: KubeRolloutLog,
  ): void {
    const saved = KubeStatusStore.savedState(this.resource);
    const place = this.place(rollout, workload);
    const stable = saved?.stable ?? releaseOf(workload.spec!.template!, place);
    const owner = ownerOf(this.resource);
    this.store = new KubeStatusStore({
      client: this.world.client,
      resource: this.resource,
      identity: this.world.identity,
      term: this.world.term,
      onLost: (why) => this.world.lost(why),
      log: this.keyedLog,
      // Each transition as an Event on the Rollout, best effort: what `kubectl describe` lists.
      events: (rows) => {
        log.append(rows);
        for (const note of rows.map(eventNote))
          if (note) void recordEvent(this.world.client, this.resource, note, this.world.identity);
      },
    });
    this.store.pin(this.sources);
    this.log = log;
    const document = engineDocument(this.resource.metadata.name, this.resource.spec as Record<string, unknown>, stable);
    this.engine = new RolloutEngine({
      document,
      templates: this.templates,
      // {{target}} in a query is the version's Deployment, the name Istio and ingress-nginx count it under.
      instanceTarget: (instance) => instanceName(this.resource.metadata.name, instance),
      store: memoryStore({ status: this.store, runs: new KubeRunStore(this.store, log) }),
      traffic: this.world.traffic(this.routed(rollout), { owner, port, replicas: place.replicas }),
      targets: this.world.targets(rollout, owner),
      // No stats: on Kubernetes the counts come from Prometheus, and no router of kanari's is sampled.
      clock: systemClock,
      log: (line) => this.world.log(`${this.resource.metadata.namespace}/${line}`),
    });
    this.engine.start();
  }

  /**
   * The Rollout as its router sees it: where it routes, as when the engine opened, and who
   * counts (`metrics`), as when the running release's templates were read, so a preset edited
   * between releases changes what the router writes for the judge in step with the judge.
   */
  private routed(rollout: KubernetesRolloutDocument): RoutedRollout {
    const released = () => this.released ?? rollout;
    return {
      metadata: rollout.metadata,
      spec: {
        service: rollout.spec.service,
        trafficRouting: rollout.spec.trafficRouting,
        get metrics() {
          return released().spec.metrics;
        },
      },
    };
  }

  /** The Rollout is being deleted: nothing moves users any more, and the next step of giving back is taken. */
  private async giveBack(): Promise<void> {
    await this.stopEngine();
    await giveBack(this.resource, { ...this.world, say: (line) => this.say(line) });
  }

  /**
   * While a Rollout kanari runs is refused, no template is released; the workload it holds
   * stays held. A new leader has no engine for it, but the workload's annotation says it is held.
   */
  private async keepHeld(): Promise<void> {
    const name = this.workload ?? record(record(this.resource.spec).workloadRef).name;
    const namespace = this.resource.metadata.namespace ?? 'default';
    await keepWorkloadHeld(this.world.client, namespace, name, this.keyedLog);
  }

  /**
   * A Rollout kanari will not run says why where its user looks: `status.message` and a
   * Degraded condition (`kubectl describe`, `kubectl get`), besides the operator's log.
   */
  private async refuse(why: string): Promise<void> {
    const current = (this.resource.status as { message?: unknown } | undefined)?.message;
    this.say(why);
    // With an engine, its store writes the status: the refusal goes on top of what it writes.
    // The release that runs keeps its plan (an edit never changes it), so a person can still act on it.
    if (this.engine) {
      await this.command(this.engine);
      await this.keepHeld();
      return this.store!.refuse(why);
    }
    await this.keepHeld();
    const answer = refusedCommand(this.resource, why, this.keyedLog);
    if (current === why && !answer) return;
    await this.world.client.patch(
      {
        apiVersion: this.resource.apiVersion,
        kind: this.resource.kind,
        namespace: this.resource.metadata.namespace!,
        name: this.resource.metadata.name,
      },
      'merge',
      {
        status: {
          ...(answer ? { command: answer } : {}),
          message: why,
          conditions: [
            {
              type: 'Degraded',
              status: 'True',
              reason: 'InvalidSpec',
              message: why,
              lastTransitionTime: new Date().toISOString(),
            },
          ],
        },
      },
      { status: true },
    );
  }

  /** Logs a line once until it changes: a resync every few seconds must not repeat it. */
  private say(line: string): void {
    if (this.said.has(line)) return;
    this.said.add(line);
    if (this.said.size > 100) this.said.clear();
    this.keyedLog(line);
  }
}
