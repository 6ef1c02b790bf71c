/**
 * The engine's store parts kept in memory: what unit tests run the engine on, and what a
 * composition gives the engine for the parts its real store does not keep (a Kubernetes
 * resource holds a status, not measurements). Nothing here survives the process, so a
 * part taken from here resumes empty after a restart.
 */
import type { AnalysisReport, AnalysisRunState, MeasurementRecord } from '../analysis/run.js';
import type { StatsDelta } from '../analysis/providers/builtin.js';
import type { StatsSnapshot } from '../shared/stats-snapshot.js';
import type {
  EventRecord,
  RecordStore,
  RolloutStore,
  RunStore,
  StatsStore,
  StatusStore,
  StoredRollout,
} from '../rollout/seams/store.js';
import type { RolloutStatus } from '../rollout/types.js';

/** Values go in and out as JSON, as a real store's do, so a caller cannot keep a live reference. */
const copy = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

export class MemoryStatusStore implements StatusStore {
  private readonly rollouts = new Map<string, StoredRollout>();
  readonly events: (EventRecord & { rollout: string })[] = [];
  /** Set to make every write throw, as a full disk does. */
  failWith?: Error;

  rollout(name: string): StoredRollout | undefined {
    return copy(this.rollouts.get(name));
  }

  putRollout(r: StoredRollout): void {
    this.check();
    this.rollouts.set(r.name, copy(r));
  }

  saveTransition(name: string, events: readonly EventRecord[], status: RolloutStatus): void {
    this.check();
    const r = this.rollouts.get(name);
    if (!r) throw new Error(`no rollout named ${name}`);
    for (const e of events) this.events.push({ rollout: name, ...copy(e) });
    r.status = copy(status);
  }

  appendEvent(rollout: string, revision: number, at: number, type: string, data: Record<string, unknown>): void {
    this.check();
    this.events.push({ rollout, revision, at, type, data: copy(data) });
  }

  private check(): void {
    if (this.failWith) throw this.failWith;
  }
}

export class MemoryRunStore implements RunStore {
  private readonly runs = new Map<string, { state: AnalysisRunState; report: AnalysisReport }>();

  saveRun(
    rollout: string,
    _revision: number,
    id: string,
    state: AnalysisRunState,
    report: AnalysisReport,
    _at: number,
    added: { from: number; items: readonly MeasurementRecord[] },
  ): void {
    const key = `${rollout}/${id}`;
    const measurements = [...(this.runs.get(key)?.state.measurements ?? [])].slice(0, added.from);
    measurements.push(...added.items);
    this.runs.set(key, copy({ state: { ...state, measurements }, report }));
  }

  run(rollout: string, id: string): { state: AnalysisRunState; report: AnalysisReport } | undefined {
    return copy(this.runs.get(`${rollout}/${id}`));
  }

  runReport(rollout: string, id: string): AnalysisReport | undefined {
    return copy(this.runs.get(`${rollout}/${id}`)?.report);
  }
}

export class MemoryRecordStore implements RecordStore {
  private readonly records = new Map<string, unknown>();

  record<T>(rollout: string, key: string): T | undefined {
    return copy(this.records.get(`${rollout}/${key}`) as T | undefined);
  }

  setRecord(rollout: string, key: string, data: unknown): void {
    if (data === undefined) this.records.delete(`${rollout}/${key}`);
    else this.records.set(`${rollout}/${key}`, copy(data));
  }
}

export class MemoryStatsStore implements StatsStore {
  private readonly kept = new Map<string, { deltas: StatsDelta[]; last?: StatsSnapshot }>();

  saveStats(rollout: string, snapshot: StatsSnapshot, delta: StatsDelta | undefined, retention: number): void {
    const k = this.kept.get(rollout) ?? { deltas: [] };
    if (delta) k.deltas = [...k.deltas, copy(delta)].filter((d) => d.end >= delta.end - retention);
    k.last = copy(snapshot);
    this.kept.set(rollout, k);
  }

  deltas(rollout: string): StatsDelta[] {
    return copy(this.kept.get(rollout)?.deltas ?? []);
  }

  lastSnapshot(rollout: string): StatsSnapshot | undefined {
    return copy(this.kept.get(rollout)?.last);
  }
}

/** A whole store in memory, or the parts `real` lacks filled from memory. */
export function memoryStore(real: Partial<RolloutStore> = {}): RolloutStore {
  return {
    status: real.status ?? new MemoryStatusStore(),
    runs: real.runs ?? new MemoryRunStore(),
    records: real.records ?? new MemoryRecordStore(),
    stats: real.stats ?? new MemoryStatsStore(),
  };
}
