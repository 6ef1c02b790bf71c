/**
 * The dashboard's report and history read in Node: what a judge's details become in the
 * report's columns (the sequential judge's ratio and e-value, Kayenta's interval and
 * effect size, nothing from details of another shape), and the releases in a history.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { figures } from '../../web/report-figures.js';
import { eventLine, releases } from '../../web/releases.js';

describe('report figures', () => {
  it('reads the sequential judge: the ratio of error rates, its interval, E against 1/α', () => {
    const details = {
      eValue: 12.5,
      alpha: 1 / 30,
      parts: [{ event: 'errors', ratio: { estimate: 3.2, lower: 1.4, upper: 7.25 } }],
    };
    assert.deepEqual(figures(details), {
      effect: '×3.2 (errors)',
      interval: '[1.4, 7.25]',
      evidence: 'E = 12.5 of 30',
    });
  });

  it('leaves the effect out when the ratio is not a number (no errors on either side: JSON null)', () => {
    const details = {
      eValue: 1,
      alpha: 0.05,
      parts: [{ event: 'errors', ratio: { estimate: null, lower: 0.01, upper: 100 } }],
    };
    assert.deepEqual(figures(details), { interval: '[0.01, 100]', evidence: 'E = 1 of 20' });
  });

  it('reads Kayenta: the Mann-Whitney interval and the effect size', () => {
    const details = {
      classification: 'High',
      deviation: 1.8,
      interval: { lower: 0.021, upper: 0.0456, estimate: 0.03 },
      effectSize: 1.75,
    };
    assert.deepEqual(figures(details), { interval: '[0.021, 0.0456]', effect: '×1.75' });
  });

  it('shows nothing for details it does not know', () => {
    for (const details of [undefined, null, 'text', 42, [], { parts: 'no' }, { eValue: 'x', alpha: 0.05 }])
      assert.deepEqual(figures(details), {}, JSON.stringify(details));
  });
});

describe('releases in a history', () => {
  const at = (n: number) => 1_000_000 + n * 1000;
  const events = [
    { id: 1, rollout: 'shop', at: at(0), type: 'apply', data: { change: 'created', actor: 'admin' } },
    { id: 2, rollout: 'shop', at: at(1), type: 'deploy', data: { release: { version: 'v2' }, actor: 'ci' } },
    { id: 3, rollout: 'shop', at: at(5), type: 'promote', data: { actor: 'alice' } },
    {
      id: 4,
      rollout: 'shop',
      at: at(9),
      type: 'result',
      data: { outcome: 'Promoted', version: 'v2', seconds: 8, reason: 'ok' },
    },
    { id: 5, rollout: 'shop', at: at(20), type: 'deploy', data: { release: { version: 'v3' }, actor: 'ci' } },
    { id: 6, rollout: 'shop', at: at(22), type: 'abort', data: { actor: 'bob', reason: 'slow' } },
  ];

  it('makes each deploy a release, with its outcome, duration and everyone who acted, newest first', () => {
    assert.deepEqual(
      releases('shop', events).map((r) => ({ ...r, actors: [...r.actors] })),
      [
        { rollout: 'shop', version: 'v3', startedAt: at(20), actors: ['ci', 'bob'] },
        { rollout: 'shop', version: 'v2', startedAt: at(1), actors: ['ci', 'alice'], outcome: 'Promoted', seconds: 8 },
      ],
    );
  });

  it('says each row in words', () => {
    assert.deepEqual(events.map(eventLine), [
      'apply (created)',
      'deploy v2',
      'promote',
      'Promoted v2 after 8 s: ok',
      'deploy v3',
      'abort: slow',
    ]);
  });
});
