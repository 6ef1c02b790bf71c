import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/config/errors.js';
import { importFiles } from '../../../src/config/import/index.js';
import { argoCondition } from '../../../src/config/import/convert.js';
import { compile } from '../../../src/config/expression.js';

/** The error's lines, or a failure when the import did not refuse with a located ConfigError. */
function refused(text: string): string {
  try {
    importFiles([{ file: 'in.yaml', text }]);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
    return err.message;
  }
  assert.fail('the import did not refuse');
}

const rollout = (spec: string) =>
  `apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: app\nspec:\n${spec}`;

test('not YAML, a list, another kind, nothing to import: located errors', () => {
  assert.match(refused('a: [1, 2\n'), /^in\.yaml:\d+:\d+ /);
  assert.match(refused('- 1\n- 2\n'), /^in\.yaml:1:1 must be a Kubernetes object/);
  assert.match(refused('kind: 3\n'), /apiVersion and kind strings/);
  assert.match(
    refused('apiVersion: v1\nkind: Service\nmetadata: {name: x}\n'),
    /holds no Argo Rollouts Rollout or Flagger Canary/,
  );
});

test('an anchor bomb and a deep document are refused by the bounded loader before they are built', () => {
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 0; i < 12; i++)
    bomb.push(
      `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
        .fill(`*${String.fromCharCode(97 + i)}`)
        .join(', ')}]`,
    );
  assert.match(refused(bomb.join('\n')), /^in\.yaml:\d+:\d+ /);
  assert.match(refused(`${'['.repeat(5000)}${']'.repeat(5000)}`), /^in\.yaml:1:\d+ /);
  assert.match(refused(`k: [${Array(30_000).fill('1').join(',')}]`), /^in\.yaml:\d+:\d+ /);
});

test('fields of the wrong type are errors at their line, never a crash', () => {
  assert.match(
    refused(rollout('  workloadRef: {name: app}\n  strategy:\n    canary:\n      steps: 7\n')),
    /^in\.yaml:9:14 spec\.strategy\.canary\.steps: must be a list \(got 7\)/,
  );
  assert.match(
    refused(rollout('  workloadRef: {name: app}\n  strategy:\n    canary:\n      steps:\n      - pause: [1]\n')),
    /steps\[0\]\.pause: must be a map/,
  );
  assert.match(refused(rollout('  workloadRef: {name: app}\n  strategy: {}\n')), /has neither canary nor blueGreen/);
  assert.match(refused(rollout('  strategy: {canary: {steps: []}}\n')), /neither workloadRef nor template/);
  assert.match(
    refused('apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {}\nspec: {}\n'),
    /metadata: has no name/,
  );
});

test('a value kanari refuses (a weight of 150) is an error at the source, not output that fails later', () => {
  assert.match(
    refused(rollout('  workloadRef: {name: app}\n  strategy:\n    canary:\n      steps:\n      - setWeight: 150\n')),
    /in\.yaml:1:1 the imported Rollout spec\.strategy\.canary\.steps\[0\]\.setWeight/,
  );
});

test("Argo's expr conditions: the forms kanari can say are converted, the others refused with why", () => {
  assert.deepEqual(argoCondition('result[0] >= 0.95'), { condition: 'default(result[0], result) >= 0.95' });
  assert.deepEqual(argoCondition('all(result, {# < 1})'), { condition: 'max(result) < 1' });
  assert.deepEqual(argoCondition('all(result, # >= 0.9)'), { condition: 'min(result) >= 0.9' });
  assert.deepEqual(argoCondition('any(result, {# > 5})'), { condition: 'max(result) > 5' });
  assert.deepEqual(argoCondition('asFloat(result) > 0 && result < 10'), { condition: '(result) > 0 && result < 10' });
  // Both for a single sample (a number in kanari) and a vector (a list).
  for (const result of [0.96, [0.96, 0.5]]) {
    assert.equal(compile('default(result[0], result) >= 0.95').evaluate({ result }), true);
    assert.equal(compile('max(result) < 1').evaluate({ result }), true);
  }
  assert.ok('refused' in argoCondition('result in [1, 2]'));
  assert.ok('refused' in argoCondition('len(filter(result, {# > 1})) == 0'));
  assert.ok('refused' in argoCondition('other > 1'));
});
