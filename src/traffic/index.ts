/**
 * The traffic routers kanari has, by name: adding one is a folder beside `embedded/` and
 * a line here. An unknown name is refused, never quietly replaced by another router.
 */
import type { AdminClient } from '../router/client.js';
import type { RoutingTable } from '../config/schemas/table.js';
import type { TrafficRouter } from '../rollout/seams/traffic.js';
import { EmbeddedTraffic } from './embedded/traffic.js';

/** What a router needs to reach its data plane; each router reads its own part. */
export interface TrafficRouterOptions {
  /** The embedded router: reaches (or starts, with `initial` as its first table) kanari's router. */
  connect?: (initial: RoutingTable) => Promise<AdminClient>;
}

const ROUTERS: Record<string, (o: TrafficRouterOptions) => TrafficRouter> = {
  embedded: (o) => {
    if (!o.connect) throw new Error('the embedded traffic router needs a way to reach kanari router (connect)');
    return new EmbeddedTraffic(o.connect);
  },
};

export function trafficRouterFor(name: string, options: TrafficRouterOptions): TrafficRouter {
  const make = Object.hasOwn(ROUTERS, name) ? ROUTERS[name] : undefined;
  if (!make) throw new Error(`no traffic router named "${name}" (known: ${Object.keys(ROUTERS).join(', ')})`);
  return make(options);
}
