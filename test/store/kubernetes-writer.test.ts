/**
 * The rule both Kubernetes stores (the Rollout's status, its log's ConfigMap) read a writer
 * stamp by after a conflict (src/store/kubernetes-writer.ts): an earlier lease term's write
 * is the old leader's, landing late, and is continued after; a later term's, or another
 * replica's of the same term, is another leader's; stamps from before terms are judged by
 * the stamp found when the replica took over. And stamps read back from what a person may
 * have edited. And a store's last writes as it closes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeStamp, lastWrites, readStamp, type WriterStamp } from '../../src/store/kubernetes-writer.js';

const me = { identity: 'n', term: 5 };
const old: WriterStamp = { identity: 'o', term: 4, seq: 7 };

describe('a writer stamp found after a conflict', () => {
  const rows: [
    string,
    WriterStamp | undefined,
    { identity: string; term?: number },
    WriterStamp | undefined,
    string,
  ][] = [
    ['no stamp (a person’s object, or nothing written yet)', undefined, me, old, 'ours'],
    ['this replica’s', { identity: 'n', term: 5, seq: 3 }, me, old, 'ours'],
    ['the stamp taken over', old, me, old, 'earlier'],
    ['the old leader’s last write, landing late', { ...old, seq: 8 }, me, old, 'earlier'],
    [
      'an older term than the one taken over (a leader that never wrote before)',
      { identity: 'p', term: 3, seq: 1 },
      me,
      old,
      'earlier',
    ],
    ['another replica of this term', { identity: 'r', term: 5, seq: 1 }, me, old, 'rival'],
    ['a later term', { identity: 'r', term: 6, seq: 1 }, me, old, 'rival'],
    ['the old leader, leading again in a later term', { identity: 'o', term: 6, seq: 1 }, me, old, 'rival'],
    [
      'a later term, where the Lease counted from 0 again (a deleted Lease)',
      { ...old, seq: 8 },
      { identity: 'n', term: 0 },
      old,
      'rival',
    ],
    ['before terms: the old leader’s late write', { identity: 'o', seq: 8 }, me, { identity: 'o', seq: 7 }, 'earlier'],
    ['before terms: another replica', { identity: 'r', seq: 1 }, me, { identity: 'o', seq: 7 }, 'rival'],
    ['before terms: anyone, where nothing was taken over', { identity: 'o', seq: 1 }, me, undefined, 'rival'],
    ['no term of its own: the old leader in its term', { ...old, seq: 8 }, { identity: 'n' }, old, 'earlier'],
    [
      'no term of its own: the old leader in another term',
      { identity: 'o', term: 6, seq: 1 },
      { identity: 'n' },
      old,
      'rival',
    ],
  ];
  for (const [what, found, self, takenOver, want] of rows)
    it(`${what}: ${want}`, () => assert.equal(judgeStamp(found, self, takenOver), want));
});

describe('a writer stamp read back', () => {
  it('keeps a well-formed one, with or without a term, and reads anything else as none', () => {
    assert.deepEqual(readStamp({ identity: 'a', term: 2, seq: 3 }), { identity: 'a', term: 2, seq: 3 });
    assert.deepEqual(readStamp({ identity: 'a', seq: 3, extra: 1 }), { identity: 'a', seq: 3 });
    for (const bad of [
      undefined,
      null,
      'a',
      [],
      { identity: 1, seq: 1 },
      { identity: 'a' },
      { identity: 'a', seq: -1 },
      { identity: 'a', seq: 1.5 },
      { identity: 'a', seq: 2 ** 60 },
      { identity: 'a', seq: 1, term: '2' },
      { identity: 'a', seq: 1, term: null },
    ])
      assert.equal(readStamp(bad), undefined, JSON.stringify(bad));
  });
});

describe('a store’s last writes as it closes', () => {
  /** A store whose writes take `ms` each and succeed unless `fail`; `changes` more come, one per write. */
  function store(o: { ms: number; fail?: boolean; changes?: number }) {
    let version = 1;
    let written = 0;
    let error: string | undefined;
    let flushes = 0;
    let changes = o.changes ?? 0;
    return {
      flushes: () => flushes,
      written: () => written,
      flush: async () => {
        flushes++;
        const v = version;
        await new Promise((resolve) => setTimeout(resolve, o.ms).unref());
        if (o.fail) error = 'the API server is down';
        else [written, error] = [v, undefined];
        // A change as the write lands, in the same turn.
        if (changes-- > 0) version++;
      },
      pending: () => written < version,
      failing: () => error !== undefined,
    };
  }

  it('writes again what came while its write was on the way, until nothing is left', async () => {
    const s = store({ ms: 5, changes: 3 });
    await lastWrites(s, 2000);
    assert.equal(s.written(), 4);
    assert.equal(s.pending(), false);
  });

  it('makes one attempt when writes fail, not a loop against the API server', async () => {
    const s = store({ ms: 5, fail: true });
    await lastWrites(s, 2000);
    assert.equal(s.flushes(), 1);
  });

  it('returns after its time however slow the write', async () => {
    const s = store({ ms: 60_000 });
    const began = Date.now();
    await lastWrites(s, 50);
    assert.ok(Date.now() - began < 5000, `${Date.now() - began} ms`);
    assert.equal(s.flushes(), 1);
  });
});
