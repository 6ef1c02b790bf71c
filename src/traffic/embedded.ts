/**
 * kanari's own router as the data plane: the desired traffic becomes one routing table,
 * written to the router's admin endpoint with If-Match so two writers never interleave.
 */
import type { AdminClient } from '../router/client.js';
import type { RoutingTable } from '../config/schemas/table.js';
import { routingTableFor } from '../rollout/routing-table.js';
import type { TrafficState } from '../rollout/types.js';
import { EMBEDDED } from '../config/capabilities.js';
import type { TrafficCapability, TrafficRouter } from './types.js';

export class EmbeddedTraffic implements TrafficRouter {
  readonly name = EMBEDDED.name;
  readonly supports: ReadonlySet<TrafficCapability> = EMBEDDED.supports;

  private admin?: AdminClient;

  /**
   * `connect` reaches the router, starting it with `initial` as its first table if it is
   * not running: a router needs stable's endpoints to start, and a process stable has
   * them only once it runs.
   */
  constructor(private readonly connect: (initial: RoutingTable) => Promise<AdminClient>) {}

  async apply(desired: TrafficState, endpoints: (id: string) => string[]): Promise<void> {
    const next = routingTableFor(desired, endpoints);
    this.admin ??= await this.connect(next);
    // One retry covers a write that raced another writer between our read and our write.
    for (let attempt = 0; ; attempt++) {
      const current = await this.admin.table();
      if (JSON.stringify(current.table) === JSON.stringify(next)) return;
      try {
        await this.admin.setTable(next, current.revision);
        return;
      } catch (err) {
        if (attempt > 0 || !/\b409\b/.test((err as Error).message)) throw err;
      }
    }
  }
}
