/**
 * The deployment targets of standalone mode: a rollout's instances run as processes kanari
 * starts, or are upstreams it is given. Adding a target is a file beside these and a line here.
 */
import type { RecordStore } from '../rollout/seams/store.js';
import type { TargetsFactory } from '../rollout/seams/targets.js';
import { ProcessTarget } from './process.js';
import { StaticTarget } from './static.js';
import type { ProcessRecord } from './process-group.js';

export interface StandaloneTargetOptions {
  rollout: string;
  /** Where process instances' output goes. */
  logDir: string;
  /** Where process instances' pids and ports are kept for the next controller. */
  records: RecordStore;
}

export function standaloneTargets(o: StandaloneTargetOptions): TargetsFactory {
  const key = (id: string) => `instance:${id}`;
  return (events) => [
    new StaticTarget(),
    new ProcessTarget(
      {
        logDir: o.logDir,
        persist: (id, record) => events.save(() => o.records.setRecord(o.rollout, key(id), record)),
        recall: (id) => o.records.record<ProcessRecord>(o.rollout, key(id)),
      },
      events,
    ),
  ];
}
