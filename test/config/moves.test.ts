import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { routingTable, type RoutingTableInput } from '../../src/config/schemas/table.js';
import { movesUsersOnto } from '../../src/config/moves.js';

const S1 = 'http://127.0.0.1:9001';
const S2 = 'http://127.0.0.1:9011';
const C1 = 'http://127.0.0.1:9002';
const C2 = 'http://127.0.0.1:9012';
const toCanary = { header: { name: 'x-canary', exact: 'yes' }, version: 'canary' } as const;
const toStable = { header: { name: 'x-pin', exact: 'stable' }, version: 'stable' } as const;

const at = (t: RoutingTableInput) => routingTable.parse(t);
/** Stable on S1, the canary on C1 at 10%, with a header route to it. */
const base = {
  pools: { stable: [S1], canary: [C1] },
  weights: { canary: 10 },
  match: [toCanary],
} satisfies RoutingTableInput;

// Each row: the table that replaces `base` (or `from`), and the version it moves users onto (undefined: only off).
const rows: { name: string; from?: RoutingTableInput; to: RoutingTableInput; onto?: string }[] = [
  { name: 'the same table', to: base },
  { name: 'a rollback: weight 0, no routes', to: { pools: { stable: [S1], canary: [C1] } } },
  { name: 'a rollback that also empties the canary pool', to: { pools: { stable: [S1] } } },
  { name: 'a lower weight', to: { ...base, weights: { canary: 5 } } },
  { name: 'a higher weight', to: { ...base, weights: { canary: 50 } }, onto: 'canary' },
  { name: 'a new canary endpoint', to: { ...base, pools: { stable: [S1], canary: [C1, C2] } }, onto: 'canary' },
  { name: 'one canary endpoint fewer', from: { ...base, pools: { stable: [S1], canary: [C1, C2] } }, to: base },
  { name: "a promotion: stable takes the canary's endpoint", to: { pools: { stable: [C1] } }, onto: 'stable' },
  {
    name: 'a new stable process (a rolling rollback grows stable back)',
    to: { ...base, pools: { stable: [S1, S2], canary: [C1] } },
  },
  { name: 'a new header route to the canary', from: { ...base, match: [] }, to: base, onto: 'canary' },
  { name: 'a header route to stable added', to: { ...base, match: [toStable, toCanary] } },
  {
    name: 'a route that kept users on stable dropped while the canary gets traffic',
    from: { ...base, match: [toStable, toCanary] },
    to: base,
    onto: 'canary',
  },
  {
    name: 'a route to stable dropped when nothing else reaches another version',
    from: { pools: { stable: [S1], canary: [C1] }, match: [toStable] },
    to: { pools: { stable: [S1], canary: [C1] } },
  },
  {
    name: 'routes reordered so the canary one comes first',
    from: { ...base, match: [toStable, toCanary] },
    to: { ...base, match: [toCanary, toStable] },
    onto: 'canary',
  },
  { name: 'mirroring started', to: { ...base, mirror: { version: 'canary', percent: 10 } }, onto: 'canary' },
  {
    name: 'mirroring lowered',
    from: { ...base, mirror: { version: 'canary', percent: 50 } },
    to: { ...base, mirror: { version: 'canary', percent: 10 } },
  },
  {
    name: 'a baseline weight raised',
    from: { pools: { stable: [S1], baseline: [S2] } },
    to: { pools: { stable: [S1], baseline: [S2] }, weights: { baseline: 10 } },
    onto: 'baseline',
  },
];

describe('which way a routing table moves users', () => {
  for (const row of rows) {
    it(`${row.name}: ${row.onto ? `onto ${row.onto}` : 'only off'}`, () => {
      assert.equal(movesUsersOnto(at(row.from ?? base), at(row.to))?.version, row.onto);
    });
  }
});
