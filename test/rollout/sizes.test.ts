/**
 * Targets carry their size from the moment a file is loaded; documents and statuses saved
 * before sizes existed get the same sizes when they are read back, so a controller that
 * resumes them sees the same document a re-apply of the file gives (not a change).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rolloutDocument } from '../../src/config/schemas/rollout.js';
import { initialStatus } from '../../src/rollout/machine.js';
import { sizedDocument, sizedStatus } from '../../src/rollout/sizes.js';

const doc = rolloutDocument.parse({
  apiVersion: 'kanari.dev/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'shop' },
  spec: {
    listen: '127.0.0.1:8080',
    stable: { version: 'v1', process: { command: 'true', instances: 3 } },
    canary: { upstreams: ['http://127.0.0.1:9002'] },
    strategy: { canary: { steps: [{ setWeight: 10 }] } },
  },
});
/** What JSON.parse of a document saved before sizes gives back. */
const unsized = <T>(v: T): T => JSON.parse(JSON.stringify(v, (k, x: unknown) => (k === 'size' ? undefined : x))) as T;

describe('target sizes', () => {
  it('are read from the file when it is loaded: a process target its instances, upstreams one', () => {
    assert.equal(doc.spec.stable.size, 3);
    assert.equal(doc.spec.canary.size, 1);
  });

  it('are given to a saved document without them, equal to what loading the file gives', () => {
    const legacy = unsized(doc);
    assert.equal(legacy.spec.stable.size, undefined);
    assert.equal(JSON.stringify(sizedDocument(legacy)), JSON.stringify(doc));
  });

  it('are given to every release of a saved status without them', () => {
    const status = initialStatus(doc.spec, 0);
    const legacy = unsized({ ...status, canary: { version: 'v2', target: doc.spec.canary } });
    const sized = sizedStatus(legacy);
    assert.equal(sized.stable.target.size, 3);
    assert.equal(sized.instances[0]!.release.target.size, 3);
    assert.equal(sized.canary!.target.size, 1);
  });
});
