/**
 * Which way a new routing table moves users. A table that only takes users off versions
 * (a rollback, an abort, a lower weight) may be applied when it cannot be saved; one
 * that moves anybody onto a version may not, since a restart would come back on the
 * saved table and move those users back (docs/router.md, "When the table cannot be saved").
 */
import type { MatchRule, RoutingTable, Version } from './schemas/table.js';

export interface Onto {
  version: Version;
  /** What in the new table does it, for a person. */
  why: string;
}

/** How `next` moves users onto a version compared with `current`; undefined when it only takes users off versions. */
export function movesUsersOnto(current: RoutingTable, next: RoutingTable): Onto | undefined {
  for (const version of ['canary', 'baseline'] as const) {
    const [was, is] = [current.weights[version], next.weights[version]];
    if (is > was) return { version, why: `its weight rises from ${was} to ${is}` };
    const added = next.pools[version].find((e) => !current.pools[version].includes(e));
    if (added) return { version, why: `it gets endpoint ${added}` };
  }
  // A promotion: stable takes over what served another version (new stable processes are fine).
  const others = new Set([...current.pools.canary, ...current.pools.baseline]);
  const promoted = next.pools.stable.find((e) => others.has(e) && !current.pools.stable.includes(e));
  if (promoted) return { version: 'stable', why: `it takes ${promoted}, which served another version` };
  const rule = ruleChange(current.match, next);
  if (rule) return rule;
  const [was, is] = [current.mirror, next.mirror];
  if (is && is.version !== 'stable' && (was?.version !== is.version || is.percent > was.percent))
    return { version: is.version, why: `it mirrors ${is.percent}% of requests to it` };
  return undefined;
}

/**
 * Rules may be dropped (users fall back to the split) and rules to stable added; any
 * other change (a new rule to a version, a dropped rule that kept users on stable, a new
 * order) can move someone onto a version.
 */
function ruleChange(current: readonly MatchRule[], table: RoutingTable): Onto | undefined {
  const keys = current.map((r) => JSON.stringify(r));
  // Users a dropped stable rule let go land where the rest of the table sends anyone.
  const reached = (['canary', 'baseline'] as const).find(
    (v) => table.weights[v] > 0 || table.match.some((r) => r.version === v),
  );
  const dropsStable = (rules: readonly MatchRule[]) =>
    reached && rules.some((r) => r.version === 'stable')
      ? { version: reached, why: 'it drops a match rule that kept users on stable' }
      : undefined;
  let from = 0;
  for (const rule of table.match) {
    const at = keys.indexOf(JSON.stringify(rule), from);
    if (at < 0) {
      if (rule.version === 'stable') continue;
      return {
        version: rule.version,
        why: keys.includes(JSON.stringify(rule))
          ? 'a match rule to it moves ahead of others'
          : 'a new match rule sends users to it',
      };
    }
    const dropped = dropsStable(current.slice(from, at));
    if (dropped) return dropped;
    from = at + 1;
  }
  return dropsStable(current.slice(from));
}
