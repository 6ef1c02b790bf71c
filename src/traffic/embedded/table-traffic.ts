/**
 * A routing table read back from the router, as a traffic state. A table names pools, not
 * instances, so an instance is called `pool:<name>`: no version label has a colon, and so
 * a table nobody here asked for never passes for the state the engine wants.
 */
import type { MatchRule, RoutingTable } from '../../config/schemas/table.js';
import type { HeaderRoute, TrafficState } from '../../rollout/types.js';

export function trafficOfTable(table: RoutingTable): TrafficState {
  const { pools } = table;
  return {
    stable: 'pool:stable',
    ...(pools.canary.length > 0 ? { canary: 'pool:canary' } : {}),
    ...(pools.baseline.length > 0 ? { baseline: 'pool:baseline' } : {}),
    weights: { canary: table.weights.canary, baseline: table.weights.baseline },
    routes: table.match.map(routeOf),
    mirror: table.mirror?.percent ?? 0,
  };
}

function routeOf(rule: MatchRule): HeaderRoute {
  const m = (rule.header ?? rule.cookie)!;
  const key = rule.header ? { header: m.name } : { cookie: m.name };
  if (m.exact !== undefined) return { ...key, value: m.exact };
  if (m.prefix !== undefined) return { ...key, prefix: m.prefix };
  return { ...key, regex: m.regex! };
}
