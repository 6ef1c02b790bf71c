import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { parse } from 'yaml';
import { run } from '../../../src/cli/import.js';
import { loadDocuments } from '../../../src/config/kinds.js';
import { FIXTURES } from './helpers.js';

const DOC = new URL('../../../docs/kubernetes/import.md', import.meta.url);

test('the walkthrough in docs/kubernetes/import.md is what `kanari import` writes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kanari-import-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'guestbook.yaml');
  const errors: string[] = [];
  t.mock.method(console, 'error', (line: string) => errors.push(line));
  const code = await run(['-f', `${FIXTURES}argo/background-analysis.yaml`, '--service', 'guestbook-svc', '-o', out]);
  assert.equal(code, 0);
  assert.deepEqual(errors, ['kanari import: everything was carried over']);
  const shown = /<!-- import-walkthrough -->\n```yaml\n([\s\S]*?)```/.exec(readFileSync(DOC, 'utf8'))?.[1];
  assert.equal(readFileSync(out, 'utf8'), shown);
  // The AnalysisTemplate is a kanari file as lint reads it (the Kubernetes Rollout's lint is another slice's).
  const templates = loadDocuments(out, shown!.split('---\n')[1]!);
  assert.deepEqual(
    templates.map((d) => d.kind),
    ['AnalysisTemplate'],
  );
});

test('an Argo Rollout with an inline pod template: --deployment writes a Deployment the official schema accepts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kanari-import-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const errors: string[] = [];
  t.mock.method(console, 'error', (line: string) => errors.push(line));
  const out = join(dir, 'out.yaml');
  const deployment = join(dir, 'deployment.yaml');
  const code = await run(['-f', `${FIXTURES}argo/rollout-canary.yaml`, '-o', out, '--deployment', deployment]);
  assert.equal(code, 0);
  const written = parse(readFileSync(deployment, 'utf8')) as Record<string, unknown>;
  new Deployment(written as ConstructorParameters<typeof Deployment>[0]).validate();
  assert.deepEqual((written.spec as { selector: unknown }).selector, { matchLabels: { app: 'rollout-canary' } });
  assert.match(
    errors[0]!,
    /^kanari import: not carried over \(3\):\n {2}\S+rollout-canary\.yaml:16:5 Rollout\/rollout-canary spec\.template: /,
  );
});
