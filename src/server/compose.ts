/**
 * The composition root of standalone mode: the one place that picks the engine's seams —
 * kanari's own router as the traffic router, processes and static upstreams as targets,
 * SQLite as the store, the system clock — for the controller and the demo alike. Another
 * world (Kubernetes) is another function like this one, not another engine.
 */
import type { AnalysisTemplateSpec } from '../config/schemas/analysis.js';
import type { RolloutDocument } from '../config/schemas/rollout.js';
import type { RoutingTable } from '../config/schemas/table.js';
import { RolloutEngine, type EngineOptions } from '../rollout/engine.js';
import { systemClock } from '../rollout/seams/clock.js';
import type { AdminClient } from '../router/client.js';
import type { StatsSnapshot } from '../shared/stats-snapshot.js';
import { sqliteParts, type Store } from '../store/sqlite.js';
import { standaloneTargets } from '../targets/index.js';
import { trafficRouterFor } from '../traffic/index.js';

export interface StandaloneEngineOptions extends Pick<EngineOptions, 'onTransition' | 'onRound' | 'log'> {
  document: RolloutDocument;
  templates?: Record<string, AnalysisTemplateSpec>;
  store: Store;
  /** Reaches the rollout's router, starting it with `initial` as its first table if it does not run. */
  connect: (initial: RoutingTable) => Promise<AdminClient>;
  /** The router's cumulative statistics; undefined before it has been reached. */
  stats: () => Promise<StatsSnapshot | undefined>;
  /** Where process instances' output goes. */
  logDir: string;
}

export function standaloneEngine(o: StandaloneEngineOptions): RolloutEngine {
  const name = o.document.metadata.name;
  return new RolloutEngine({
    document: o.document,
    ...(o.templates ? { templates: o.templates } : {}),
    store: sqliteParts(o.store),
    traffic: trafficRouterFor('embedded', { connect: o.connect }),
    targets: standaloneTargets({ rollout: name, logDir: o.logDir, records: o.store }),
    stats: o.stats,
    clock: systemClock,
    ...(o.onTransition ? { onTransition: o.onTransition } : {}),
    ...(o.onRound ? { onRound: o.onRound } : {}),
    ...(o.log ? { log: o.log } : {}),
  });
}
