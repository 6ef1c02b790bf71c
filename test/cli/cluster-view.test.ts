// What `kanari status` makes of a Rollout resource read from a cluster: the standalone view
// from `status.state`, the conditions and the last command; and a status edited into
// nonsense, which is said with its path and never drawn or thrown as a stack.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { drawStatus } from '../../src/cli/cluster-status.js';
import { clusterView, isRunning, renderClusterView } from '../../src/cli/cluster-view.js';
import { CommandError, EXIT, reportError } from '../../src/cli/exit.js';
import type { KubeObject } from '../../src/kube/api.js';
import { replicasRollout } from '../helpers/kube/cluster.js';

const NOW = 1_800_000_000_000;

function state(overrides: Record<string, unknown> = {}) {
  return {
    phase: 'Paused',
    revision: 2,
    stable: { version: 'aaaaaaaaaa', target: {} },
    canary: { version: 'bbbbbbbbbb', target: {} },
    step: 1,
    paused: { reason: 'step', at: NOW - 5000, message: 'paused until promoted' },
    instances: [],
    ready: [],
    stopping: [],
    traffic: {
      stable: 'aaaaaaaaaa',
      canary: 'bbbbbbbbbb',
      weights: { canary: 25, baseline: 0 },
      routes: [],
      mirror: 0,
    },
    trafficSeq: 2,
    appliedSeq: 2,
    analyses: [
      { id: 'a1', template: 'sequential', scope: 'background', step: 0, verdict: 'Running', startedAt: NOW - 9000 },
    ],
    message: 'step 2: paused until promoted',
    updatedAt: NOW - 1000,
    ...overrides,
  };
}

function rollout(status: unknown, spec: Record<string, unknown> = {}): KubeObject {
  const r = replicasRollout('web', [{ setWeight: 25 }, { pause: {} }, { setWeight: 50 }], { namespace: 'shop' });
  return { ...r, spec: { ...r.spec, ...spec }, ...(status === undefined ? {} : { status }) };
}

const conditions = [
  { type: 'Progressing', status: 'False', reason: 'Paused', message: '', lastTransitionTime: '' },
  { type: 'Paused', status: 'True', reason: 'step', message: '', lastTransitionTime: '' },
];

describe('a Rollout read from a cluster', () => {
  it('is drawn as standalone draws it, with its conditions and the last command', () => {
    const v = clusterView(
      rollout({
        phase: 'Paused',
        conditions,
        command: { id: 'pause-1', command: 'pause', at: '2027-01-15T08:00:00Z' },
        state: state(),
      }),
      NOW,
    );
    assert.ok(isRunning(v));
    assert.equal(v.namespace, 'shop');
    assert.deepEqual(v.weights, { stable: 75, canary: 25, baseline: 0 });
    assert.deepEqual(
      v.steps.map((s) => s.state),
      ['done', 'current', 'next'],
    );
    const text = renderClusterView(v, NOW);
    assert.match(text, /^web {2}Paused {2}aaaaaaaaaa → bbbbbbbbbb {2}\(revision 2, users on service\/web\)/);
    assert.match(text, /weight {4}█████░+ 25% bbbbbbbbbb/);
    assert.match(text, /▶ {2}2\. pause until promoted/);
    assert.match(text, /sequential \(background\) {2}Running/);
    assert.match(text, /conditions Paused \(step\)$/m);
    assert.match(text, /command {3}pause done at 2027-01-15T08:00:00Z/);
  });

  it('that the operator has not taken on says why, without a phase', () => {
    const refused = clusterView(rollout({ message: 'the Rollout is refused: spec.x: nope', conditions: [] }));
    assert.ok(!isRunning(refused));
    assert.equal(renderClusterView(refused), 'web  not running  the Rollout is refused: spec.x: nope');
    assert.match(renderClusterView(clusterView(rollout(undefined))), /no status yet: the kanari operator has not/);
  });

  it('whose status was edited into nonsense is refused with the path, never a stack', () => {
    const cases: [unknown, RegExp][] = [
      ['text', /status: /],
      [{ conditions: 'all good' }, /status\.conditions: /],
      [{ command: { id: 7 } }, /status\.command\.id: /],
      [{ state: 'Paused' }, /status\.state: /],
      [{ state: state({ phase: 'Winning' }) }, /status\.state\.phase: /],
      [
        { state: state({ traffic: { weights: { canary: 250, baseline: 0 } } }) },
        /status\.state\.traffic\.weights\.canary: /,
      ],
      [{ state: state({ traffic: null }) }, /status\.state\.traffic: /],
      [{ state: state({ analyses: [{ id: 'x' }] }) }, /status\.state\.analyses\[0\]\.template: /],
      [{ state: state({ step: -1 }) }, /status\.state\.step: /],
      [{ state: state({ stable: { version: '../../etc' } }) }, /status\.state\.stable\.version: /],
      [{ state: state({ paused: { reason: 'bored', message: '' } }) }, /status\.state\.paused\.reason: /],
      [{ state: state({ result: { outcome: 'Promoted' } }) }, /status\.state\.result\.release: /],
    ];
    for (const [status, path] of cases)
      assert.throws(
        () => clusterView(rollout(status), NOW),
        (err: Error) =>
          err instanceof CommandError &&
          err.message.startsWith('Rollout shop/web: ') &&
          path.test(err.message) &&
          /edited by hand or written by another version of kanari/.test(err.message),
        JSON.stringify(status),
      );
  });

  it('whose spec was edited into nonsense is refused with the path', () => {
    assert.throws(
      () => clusterView(rollout({ state: state() }, { strategy: { canary: { steps: [{ setWeight: 'lots' }] } } })),
      (err: Error) =>
        err instanceof CommandError && /^Rollout shop\/web is not valid: spec\.strategy/.test(err.message),
    );
  });

  it('prints what its status says as text: no terminal escapes or forged lines', () => {
    const text = renderClusterView(
      clusterView(rollout({ state: state({ message: 'ok\u001b[2J\nweb  Healthy' }), conditions }), NOW),
      NOW,
    );
    assert.ok(!text.includes('\u001b'));
    assert.match(text, /now {7}ok\\u001b\[2J\\u000aweb {2}Healthy$/m);
  });

  it('an error quoting what the cluster holds is printed as text, with its exit code', () => {
    const printed: string[] = [];
    const saved = console.error;
    console.error = (line: string) => void printed.push(line);
    try {
      assert.equal(reportError(new CommandError('web: promote refused: \u001b[2Jno\nkanari: fine', EXIT.failed)), 1);
    } finally {
      console.error = saved;
    }
    assert.deepEqual(printed, ['kanari: web: promote refused: \\u001b[2Jno\\u000akanari: fine']);
  });

  it('in a list, an unreadable one is named beside the others', () => {
    assert.equal(
      drawStatus([{ name: 'api', namespace: 'shop', error: 'Rollout shop/api: status: bad' }], 'shop'),
      'api  unreadable: Rollout shop/api: status: bad',
    );
    assert.equal(drawStatus([], 'shop'), 'no Rollouts in namespace shop');
  });
});
