import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/config/errors.js';
import { loadDocuments } from '../../src/config/kinds.js';

/** Where `file` writes; a test may put companion files (a canary config) beside them. */
export const dir = mkdtempSync(join(tmpdir(), 'kanari-config-'));
let n = 0;

/** Writes `text` to a new file in a temporary directory and returns its path. */
export function file(text: string): string {
  const path = join(dir, `f${n++}.yaml`);
  writeFileSync(path, text);
  return path;
}

/** The printed lines of the ConfigError a load throws, with the temp path replaced by `F`. */
export function errorsOf(
  path: string,
  ...rest: Parameters<typeof loadDocuments> extends [string, ...infer R] ? Partial<R> : never
): string[] {
  try {
    loadDocuments(path, ...(rest as []));
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.message.split('\n').map((line) => line.replace(path, 'F'));
  }
  assert.fail('expected the file to be rejected');
}

/** A Rollout of two fixed upstreams on `listen`, canary steps as written (`setWeight: 10`); line 5 is listen. */
export function upstreamRollout(name: string, listen: number, steps = ['setWeight: 10']): string {
  return `apiVersion: kanari.dev/v1alpha1
kind: Rollout
metadata: { name: ${name} }
spec:
  listen: ${listen}
  stable: { version: v1, upstreams: [http://127.0.0.1:9001] }
  canary: { upstreams: [http://127.0.0.1:9002] }
  strategy:
    canary:
      steps:
${steps.map((step) => `        - ${step}\n`).join('')}`;
}
