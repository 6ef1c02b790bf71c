/**
 * Analysis runs on Kubernetes: measurements and reports in memory (what `kanari status`
 * and the operator's logs show), and each running analysis's state without them in the
 * Rollout's status (`KubeStatusStore.saveRunState`). A new leader resumes a run from that
 * state: its judge goes on where it was, and its count source reads from Prometheus the
 * windows after the state's `through`, so nothing is lost or counted twice — only the
 * measurements from before the hand-over are missing from its report. Each round's
 * evidence, and the requests and errors per version of the windows a sequential run
 * counted, go to the Rollout's history in its ConfigMap (kubernetes-log.ts).
 */
import type { AnalysisReport, AnalysisRunState, MeasurementRecord } from '../analysis/run.js';
import type { RunStore } from '../rollout/seams/store.js';
import type { KubeStatusStore } from './kubernetes.js';
import type { KubeRolloutLog } from './kubernetes-log.js';
import { MemoryRunStore } from './memory.js';

export class KubeRunStore implements RunStore {
  private readonly memory = new MemoryRunStore();

  constructor(
    private readonly status: KubeStatusStore,
    /** Where each round's evidence is kept for charts (the ConfigMap beside the Rollout). */
    private readonly log?: Pick<KubeRolloutLog, 'addRun' | 'addWindows'>,
  ) {}

  saveRun(
    rollout: string,
    revision: number,
    id: string,
    state: AnalysisRunState,
    report: AnalysisReport,
    at: number,
    added: { from: number; items: readonly MeasurementRecord[] },
  ): void {
    this.memory.saveRun(rollout, revision, id, state, report, at, added);
    this.status.saveRunState(id, state.endedAt === undefined ? state : undefined, at);
    this.log?.addRun(id, report, at);
    this.log?.addWindows(added.items);
  }

  run(rollout: string, id: string): { state: AnalysisRunState; report?: AnalysisReport } | undefined {
    const kept = this.memory.run(rollout, id);
    if (kept) return kept;
    const state = this.status.runState(id);
    return state && { state };
  }

  runReport(rollout: string, id: string): AnalysisReport | undefined {
    return this.memory.runReport(rollout, id);
  }
}
