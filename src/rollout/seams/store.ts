/**
 * The `RolloutStore` seam, owned by the engine that uses it, in small parts so a store
 * that keeps only a rollout's status (a Kubernetes resource) implements only that part and
 * the composition fills the rest (src/store/memory.ts). SQLite (src/store/sqlite.ts)
 * implements them all.
 */
import type { AnalysisReport, AnalysisRunState, MeasurementRecord } from '../../analysis/run.js';
import type { StatsDelta } from '../../analysis/providers/builtin.js';
import type { StatsSnapshot } from '../../shared/stats-snapshot.js';
import type { RolloutStatus } from '../types.js';

export interface StoredRollout {
  name: string;
  /** The Rollout document as applied (JSON of the validated document). */
  document: unknown;
  /** Analysis templates applied with it, by name. */
  templates: Record<string, unknown>;
  status: RolloutStatus;
}

/** One row of a rollout's event log. */
export interface EventRecord {
  revision: number;
  at: number;
  type: string;
  data: Record<string, unknown>;
}

/** A rollout's document, status and event log: what every store must keep. */
export interface StatusStore {
  rollout(name: string): StoredRollout | undefined;
  putRollout(r: StoredRollout): void;
  /** Appends `events` and replaces the status, all or nothing: a transition is saved whole. */
  saveTransition(name: string, events: readonly EventRecord[], status: RolloutStatus): void;
  appendEvent(rollout: string, revision: number, at: number, type: string, data: Record<string, unknown>): void;
  /**
   * For a store that writes behind (the Kubernetes resource's status): resolves once
   * everything saved so far is durable. The engine waits for it before it acts on a
   * transition that moves users forward. A store whose writes are durable when they
   * return (SQLite, memory) leaves it out.
   */
  durable?(): Promise<void>;
}

/** Analysis runs, with their measurements saved as they are added. */
export interface RunStore {
  /**
   * Saves a run: its state (without measurements) replaced, and the measurements it
   * `added` since the last save appended, numbered from `from`.
   */
  saveRun(
    rollout: string,
    revision: number,
    id: string,
    state: AnalysisRunState,
    report: AnalysisReport,
    at: number,
    added: { from: number; items: readonly MeasurementRecord[] },
  ): void;
  /** A run to resume: its state (with the measurements the store keeps), and its last report where it has one. */
  run(rollout: string, id: string): { state: AnalysisRunState; report?: AnalysisReport } | undefined;
  runReport(rollout: string, id: string): AnalysisReport | undefined;
}

/** Small keyed records: what a target needs to adopt an instance after a restart. */
export interface RecordStore {
  record<T>(rollout: string, key: string): T | undefined;
  setRecord(rollout: string, key: string, data: unknown): void;
}

/** The data plane's statistics: deltas of the last `retention` ms and the last cumulative snapshot. */
export interface StatsStore {
  /** Keeps `snapshot` as the last one and `delta` (when there is one), dropping deltas older than `retention`. */
  saveStats(rollout: string, snapshot: StatsSnapshot, delta: StatsDelta | undefined, retention: number): void;
  deltas(rollout: string): StatsDelta[];
  lastSnapshot(rollout: string): StatsSnapshot | undefined;
}

export interface RolloutStore {
  status: StatusStore;
  runs: RunStore;
  records: RecordStore;
  stats: StatsStore;
}
