import type { MatchRule, RoutingTable } from '../config/schemas/table.js';
import type { HeaderRoute, TrafficState } from './types.js';

/**
 * The routing table kanari's own router serves for a traffic state; `endpoints` gives an
 * instance's addresses. The engine also uses it to judge whether a transition moves users
 * onto a version (config/moves.ts), the same rule the router applies to tables it cannot save.
 */
export function routingTableFor(t: TrafficState, endpoints: (id: string) => string[]): RoutingTable {
  const pool = (id: string | undefined) => (id === undefined ? [] : endpoints(id).slice(0, t.sizes?.[id]));
  return {
    pools: { stable: pool(t.stable), canary: pool(t.canary), baseline: pool(t.baseline) },
    weights: { canary: t.weights.canary, baseline: t.weights.baseline },
    match: t.routes.map(toMatchRule),
    mirror: t.mirror > 0 ? { version: 'canary', percent: t.mirror, maxBodyBytes: 1024 * 1024 } : null,
  };
}

function toMatchRule(r: HeaderRoute): MatchRule {
  const value =
    r.value !== undefined ? { exact: r.value } : r.prefix !== undefined ? { prefix: r.prefix } : { regex: r.regex! };
  return {
    ...(r.header ? { header: { name: r.header, ...value } } : { cookie: { name: r.cookie!, ...value } }),
    version: 'canary',
  };
}
