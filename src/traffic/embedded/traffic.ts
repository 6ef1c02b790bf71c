/**
 * kanari's own router as the data plane: the desired traffic becomes one routing table,
 * written to the router's admin endpoint with If-Match so two writers never interleave,
 * and read back from it to say what the router really serves.
 */
import { AdminError, type AdminClient } from '../../router/client.js';
import type { RoutingTable } from '../../config/schemas/table.js';
import { routingTableFor } from '../../rollout/routing-table.js';
import type { TrafficState } from '../../rollout/types.js';
import {
  TrafficConflict,
  TrafficError,
  TrafficRefused,
  TrafficUnreachable,
  type TrafficCapability,
  type TrafficRouter,
} from '../../rollout/seams/traffic.js';
import { EMBEDDED } from '../../config/capabilities.js';
import { trafficOfTable } from './table-traffic.js';

export class EmbeddedTraffic implements TrafficRouter {
  readonly name = EMBEDDED.name;
  readonly supports: ReadonlySet<TrafficCapability> = EMBEDDED.supports;

  private admin?: AdminClient;
  /** The last state asked for and its table: a table read back that equals it is that state. */
  private last?: { desired: TrafficState; table: RoutingTable };

  /**
   * `connect` reaches the router, starting it with `initial` as its first table if it is
   * not running: a router needs stable's endpoints to start, and a process stable has
   * them only once it runs.
   */
  constructor(private readonly connect: (initial: RoutingTable) => Promise<AdminClient>) {}

  async apply(desired: TrafficState, endpoints: (id: string) => string[]): Promise<void> {
    const next = routingTableFor(desired, endpoints);
    this.last = { desired, table: next };
    this.admin ??= await typed(() => this.connect(next));
    const admin = this.admin;
    // One retry covers a write that raced another writer between our read and our write.
    for (let attempt = 0; ; attempt++) {
      const current = await typed(() => admin.table());
      if (JSON.stringify(current.table) === JSON.stringify(next)) return;
      try {
        await typed(() => admin.setTable(next, current.revision));
        return;
      } catch (err) {
        if (attempt > 0 || !(err instanceof TrafficConflict)) throw err;
      }
    }
  }

  async observe(): Promise<TrafficState | undefined> {
    const admin = this.admin;
    if (!admin) return undefined;
    const { table } = await typed(() => admin.table());
    if (this.last && JSON.stringify(table) === JSON.stringify(this.last.table)) return this.last.desired;
    return trafficOfTable(table);
  }
}

/** The admin client's failures as the seam's types: 409 a conflict, another status a refusal, no answer unreachable. */
async function typed<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof TrafficError) throw err;
    const message = (err as Error).message;
    if (err instanceof AdminError && err.status === 409) throw new TrafficConflict(message, { cause: err });
    if (err instanceof AdminError && err.status !== undefined) throw new TrafficRefused(message, { cause: err });
    throw new TrafficUnreachable(message, { cause: err });
  }
}
