/**
 * Runs the analyses the status names: opens each run (or resumes it from the store with
 * its measurements), ticks it, saves what it added, and tells the machine its verdict.
 * The data plane's statistics come in through `sample`, kept in memory whether or not the
 * store takes them: analyses, and the rollbacks they decide, never wait for the disk.
 */
import type { AnalysisTemplateSpec } from '../../config/schemas/analysis.js';
import { AnalysisRun, type AnalysisReport, type RunEnvironment } from '../../analysis/run.js';
import { BuiltinProvider, StatsRecorder } from '../../analysis/providers/builtin.js';
import { Providers } from '../../analysis/providers/index.js';
import { BUILTIN_TEMPLATES } from '../../config/templates.js';
import type { StatsSnapshot } from '../../shared/stats-snapshot.js';
import type { SplitShares } from '../../analysis/judges/sequential/window.js';
import type { RunStore, StatsStore } from '../seams/store.js';
import type { EngineContext } from './context.js';
import { isNotActing } from '../../shared/not-acting.js';

/** How long data-plane statistics are kept (and so the longest window a builtin query can ask for). */
const STATS_RETENTION = 3_600_000;

export interface AnalysisSupervisorOptions {
  runs: RunStore;
  stats: StatsStore;
  /** AnalysisTemplate documents applied with the rollout, by name (built-ins are always there). */
  templates: Record<string, AnalysisTemplateSpec>;
  /** What `{{target}}` stands for, given a version's instance; default `<service>-<version>`. */
  instanceTarget?: (instance: string) => string;
  /** The canary's configured share of canary + control requests all through a window, when one settled split served it. */
  expectedShareAt: (start: number, end: number) => SplitShares | undefined;
  hasBaseline: () => boolean;
  /** What the rollout's router assigns to a version: a key (sticky users) or each request. */
  assignment: 'key' | 'request';
  /** How long a step's analysis waits for the data a pass needs before it is Inconclusive (the progressDeadline). */
  stepDeadline: number;
}

export class AnalysisSupervisor {
  readonly recorder = new StatsRecorder(STATS_RETENTION);
  private readonly runs = new Map<string, AnalysisRun>();
  private readonly env: RunEnvironment;
  /** How many of each run's measurements are in the store already. */
  private readonly savedMeasurements = new Map<string, number>();
  /** The last report of each run in the status, as saved. */
  private readonly reports = new Map<string, AnalysisReport>();
  /** Ended entries already looked at by endEnded in this process. */
  private readonly settled = new Set<string>();
  private templates: Record<string, AnalysisTemplateSpec>;

  constructor(
    private readonly ctx: EngineContext,
    private readonly o: AnalysisSupervisorOptions,
  ) {
    for (const d of o.stats.deltas(ctx.name)) this.recorder.append(d);
    const last = o.stats.lastSnapshot(ctx.name);
    if (last) this.recorder.record(last);
    this.templates = o.templates;
    const instances = () => {
      const s = ctx.status();
      return {
        stable: s.stable.version,
        ...(s.canary ? { canary: s.canary.version } : {}),
        ...(s.traffic.baseline ? { baseline: s.traffic.baseline } : {}),
      };
    };
    const named = o.instanceTarget;
    this.env = {
      service: ctx.name,
      providers: new Providers(new BuiltinProvider(this.recorder)),
      recorder: this.recorder,
      expectedShareAt: o.expectedShareAt,
      hasBaseline: o.hasBaseline,
      assignment: o.assignment,
      // A version's instance is named by its version (a baseline: by the stable version's).
      instances,
      ...(named
        ? { targets: () => Object.fromEntries(Object.entries(instances()).map(([v, id]) => [v, named(id)])) }
        : {}),
    };
  }

  /** The templates runs opened from now on read (see RolloutEngine.useTemplates). */
  useTemplates(templates: Record<string, AnalysisTemplateSpec>): void {
    this.templates = templates;
  }

  /** Records a statistics snapshot as a delta since the last one. */
  sample(snapshot: StatsSnapshot): void {
    const delta = this.recorder.record(snapshot);
    this.ctx.saving.write(() => this.o.stats.saveStats(this.ctx.name, snapshot, delta, STATS_RETENTION));
  }

  /** An analysis run's report as of its last tick (views ask for it on every API call and scrape). */
  report(id: string): AnalysisReport | undefined {
    return this.reports.get(id) ?? this.o.runs.runReport(this.ctx.name, id);
  }

  async tick(now: number): Promise<void> {
    const analyses = this.ctx.status().analyses;
    for (const id of this.reports.keys()) if (!analyses.some((a) => a.id === id)) this.reports.delete(id);
    await this.endEnded(now);
    for (const entry of analyses) {
      if (entry.endedAt !== undefined) continue;
      let run = this.runs.get(entry.id);
      if (!run) {
        run = this.open(entry.id, entry.template, entry.scope, entry.startedAt);
        if (!run) continue;
        this.runs.set(entry.id, run);
      }
      try {
        await run.tick(now);
      } catch (err) {
        // This process stopped acting (a lapsed lease): the run is not judged, nor ended, by it.
        if (isNotActing(err)) {
          this.ctx.log(`analysis ${entry.id}: not judged: ${(err as Error).message}`);
          continue;
        }
        // A judge that throws (a bug, or a resumed state it cannot read) ends its run as Error,
        // said once; failing every round instead would hold the rollout where it is for good.
        const reason = `the analysis could not go on: ${(err as Error).message}`;
        this.ctx.log(`analysis ${entry.id}: ${reason}`);
        this.runs.delete(entry.id);
        await this.ctx.send({ type: 'analysisVerdict', id: entry.id, verdict: 'Error', reason });
        continue;
      }
      const report = run.report();
      this.save(entry.id, run, report, now);
      if (report.verdict !== entry.verdict || report.verdict !== 'Running')
        await this.ctx.send({ type: 'analysisVerdict', id: entry.id, verdict: report.verdict, reason: report.reason });
    }
  }

  /**
   * Ends the runs whose entries the machine ended, saving their last report: Stopped ones
   * with the machine's reason, those ended at promotion with their judge's final verdict,
   * which the machine is then told. A run this process has not open — ended after its last
   * save (the status was saved, the report not), or before its first round opened it (the
   * router's statistics late, then `kanari down --all`) — is opened to be ended too, once:
   * each ended entry is looked at once per process, not every round.
   */
  async endEnded(now: number): Promise<void> {
    const analyses = this.ctx.status().analyses;
    for (const id of this.settled) if (!analyses.some((a) => a.id === id)) this.settled.delete(id);
    for (const entry of analyses) {
      if (entry.endedAt === undefined) continue;
      let run = this.runs.get(entry.id);
      const unsaved = entry.verdict === 'Stopped' || entry.verdict === 'Running';
      if (!run && unsaved && !this.settled.has(entry.id) && this.report(entry.id)?.endedAt === undefined)
        run = this.open(entry.id, entry.template, entry.scope, entry.startedAt);
      this.settled.add(entry.id);
      if (!run) continue;
      if (entry.verdict === 'Stopped') run.stop(now, entry.reason ?? 'stopped');
      else run.finish(now);
      const report = run.report();
      this.save(entry.id, run, report, now);
      this.runs.delete(entry.id);
      this.savedMeasurements.delete(entry.id);
      if (entry.verdict === 'Running')
        await this.ctx.send({ type: 'analysisVerdict', id: entry.id, verdict: report.verdict, reason: report.reason });
    }
  }

  private open(id: string, template: string, scope: 'step' | 'background', startedAt: number): AnalysisRun | undefined {
    const saved = this.o.runs.run(this.ctx.name, id);
    if (saved) {
      try {
        const run = AnalysisRun.resume(saved.state, this.env);
        this.savedMeasurements.set(id, saved.state.measurements.length);
        return run;
      } catch (err) {
        // A state this kanari cannot read (edited, or from another version): judged afresh, not a crash.
        this.ctx.log(`analysis ${id}: its saved state cannot be resumed (${(err as Error).message}); it starts again`);
      }
    }
    const spec = this.templates[template] ?? BUILTIN_TEMPLATES[template];
    if (!spec) {
      void this.ctx.send({
        type: 'analysisVerdict',
        id,
        verdict: 'Error',
        reason: `no analysis template named ${template}`,
      });
      return undefined;
    }
    const deadline = scope === 'step' ? { deadline: startedAt + this.o.stepDeadline } : {};
    return AnalysisRun.start(template, spec, scope, startedAt, this.env, deadline);
  }

  /** Saves a run's state and the measurements it added; those not saved now go with the next save that works. */
  private save(id: string, run: AnalysisRun, report: AnalysisReport, now: number): void {
    const { ctx } = this;
    const from = this.savedMeasurements.get(id) ?? 0;
    const { state, added } = run.persisted(from);
    this.reports.set(id, report);
    const saved = ctx.saving.write(() =>
      this.o.runs.saveRun(ctx.name, ctx.status().revision, id, state, report, now, { from, items: added }),
    );
    if (saved) this.savedMeasurements.set(id, from + added.length);
  }
}
