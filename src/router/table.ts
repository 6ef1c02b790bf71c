import type { RoutingTable, Version } from '../config/schemas/table.js';
import { compileRules, type CompiledRule } from './match.js';
import { Pool, type EndpointRegistry } from './pool.js';
import { BUCKETS, toBuckets, type BucketWeights } from './split.js';

/** A routing table made ready for the hot path; swapped whole, so each request sees one. */
export interface CompiledTable {
  readonly revision: number;
  readonly table: RoutingTable;
  readonly weights: BucketWeights;
  readonly rules: readonly CompiledRule[];
  readonly pools: Readonly<Record<Version, Pool>>;
  readonly mirror: { version: Version; buckets: number; maxBodyBytes: number } | null;
}

export function compileTable(table: RoutingTable, revision: number, endpoints: EndpointRegistry): CompiledTable {
  const pool = (v: Version) =>
    new Pool(
      v,
      table.pools[v].map((url) => endpoints.get(url)),
    );
  const pools = { stable: pool('stable'), canary: pool('canary'), baseline: pool('baseline') };
  endpoints.retainOnly(new Set([...table.pools.stable, ...table.pools.canary, ...table.pools.baseline]));
  return {
    revision,
    table,
    weights: toBuckets(table.weights),
    rules: compileRules(table.match),
    pools,
    mirror: table.mirror
      ? {
          version: table.mirror.version,
          buckets: Math.round((table.mirror.percent * BUCKETS) / 100),
          maxBodyBytes: table.mirror.maxBodyBytes,
        }
      : null,
  };
}
