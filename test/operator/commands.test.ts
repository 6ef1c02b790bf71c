/**
 * A person's command on a Rollout the operator runs, carried out through the narrow hands
 * the runner gives it (an engine's send, the store's answer, a log): once per id, refused
 * with the reason where the router cannot hold a weight or the spec is refused, and never a
 * crash for an annotation anyone with patch may have written.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kubernetesRolloutDocument } from '../../src/config/schemas/kubernetes.js';
import type { KubeObject } from '../../src/kube/api.js';
import { COMMAND_ANNOTATION, type CommandAnswer } from '../../src/kube/commands.js';
import { carryOutCommand, refusedCommand, type CommandHands } from '../../src/operator/commands.js';
import type { UntimedEvent } from '../../src/rollout/types.js';

const rollout = kubernetesRolloutDocument.parse({
  apiVersion: 'kanari.dev/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'web', namespace: 'shop' },
  spec: {
    workloadRef: { name: 'web' },
    service: { name: 'web' },
    trafficRouting: { replicas: {} },
    strategy: { canary: { steps: [{ setWeight: 50 }] } },
  },
});

const resource = (annotation: string | undefined, answered?: string): KubeObject => ({
  apiVersion: 'kanari.dev/v1alpha1',
  kind: 'Rollout',
  metadata: {
    name: 'web',
    namespace: 'shop',
    ...(annotation === undefined ? {} : { annotations: { [COMMAND_ANNOTATION]: annotation } }),
  },
  ...(answered ? { status: { command: { id: answered } } } : {}),
});

const request = (r: Record<string, unknown>) => JSON.stringify({ id: 'req-0001', ...r });

/** Hands that record what was sent, answered and logged; the engine rejects with `rejected` when given. */
function hands(options: { answered?: string; rejected?: string } = {}) {
  const sent: UntimedEvent[] = [];
  const answers: CommandAnswer[] = [];
  const logged: string[] = [];
  const said: string[] = [];
  const h: CommandHands = {
    engine: {
      send: (e) => {
        sent.push(e);
        return Promise.resolve(options.rejected ? { rejected: options.rejected } : {}) as never;
      },
    },
    store: { answeredCommand: options.answered, answer: (a) => void answers.push(a) },
    log: (line) => void logged.push(line),
    say: (line) => void said.push(line),
  };
  return { h, sent, answers, logged, said };
}

describe("a person's command on a Rollout the operator runs", () => {
  it('is carried out by the engine with who asked, and answered with its id', async () => {
    const w = hands();
    await carryOutCommand(resource(request({ command: 'promote', full: true, by: 'ana' })), w.h, rollout, 4);
    assert.deepEqual(w.sent, [{ type: 'promote', full: true, actor: 'ana' }]);
    assert.equal(w.answers.length, 1);
    assert.equal(w.answers[0]!.id, 'req-0001');
    assert.equal(w.answers[0]!.refused, undefined);
    assert.deepEqual(w.logged, ['promote from ana: done']);
  });

  it('is carried out once: an id the status answered is not sent again', async () => {
    const w = hands({ answered: 'req-0001' });
    await carryOutCommand(resource(request({ command: 'abort' })), w.h, rollout, 4);
    assert.deepEqual([w.sent, w.answers, w.logged], [[], [], []]);
  });

  it('answers the engine’s rejection as the reason it was refused', async () => {
    const w = hands({ rejected: 'nothing to promote' });
    await carryOutCommand(resource(request({ command: 'promote' })), w.h, rollout, 4);
    assert.equal(w.answers[0]!.refused, 'nothing to promote');
    assert.deepEqual(w.logged, ['promote: refused: nothing to promote']);
  });

  it('refuses a weight the router cannot hold without reaching the engine', async () => {
    const w = hands();
    await carryOutCommand(resource(request({ command: 'set-weight', weight: 50 })), w.h, rollout, 3);
    assert.deepEqual(w.sent, []);
    assert.match(w.answers[0]!.refused ?? '', /^set-weight 50: 50% of 3 pods is 1\.5 pods/);
  });

  it('sends a weight the router can hold, with its reason', async () => {
    const w = hands();
    await carryOutCommand(resource(request({ command: 'set-weight', weight: 50, reason: 'load' })), w.h, rollout, 4);
    assert.deepEqual(w.sent, [{ type: 'setWeight', weight: 50, reason: 'load' }]);
  });

  it('refuses set-weight while the spec is refused: which weights the router can send is not known', async () => {
    const w = hands();
    await carryOutCommand(resource(request({ command: 'set-weight', weight: 50 })), w.h);
    assert.deepEqual(w.sent, []);
    assert.match(w.answers[0]!.refused ?? '', /the Rollout is refused as it is now/);
  });

  it('says what is wrong with an annotation that is not a command, and answers nothing', async () => {
    for (const text of ['{', request({ command: 'rm -rf' }), 'x'.repeat(5000)]) {
      const w = hands();
      await carryOutCommand(resource(text), w.h, rollout, 4);
      assert.deepEqual([w.sent, w.answers], [[], []]);
      assert.equal(w.said.length, 1, text.slice(0, 20));
      assert.match(w.said[0]!, new RegExp(COMMAND_ANNOTATION));
    }
  });

  it('while the spec is refused and no engine runs, is answered once with the reason', () => {
    const logged: string[] = [];
    const answer = refusedCommand(resource(request({ command: 'promote', by: 'ana' })), 'bad spec', (l) =>
      logged.push(l),
    );
    assert.equal(answer?.id, 'req-0001');
    assert.equal(answer?.refused, 'bad spec; fix the spec, then ask again');
    assert.deepEqual(logged, ['promote from ana: refused: bad spec']);
    const again = refusedCommand(resource(request({ command: 'promote' }), 'req-0001'), 'bad spec', (l) =>
      logged.push(l),
    );
    assert.equal(again, undefined);
    assert.equal(
      refusedCommand(resource('{'), 'bad spec', (l) => logged.push(l)),
      undefined,
    );
    assert.equal(
      refusedCommand(resource(undefined), 'bad spec', (l) => logged.push(l)),
      undefined,
    );
    assert.equal(logged.length, 1);
  });
});
