import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Controller, ControllerError } from '../../src/server/controller.js';

const dir = mkdtempSync(join(tmpdir(), 'kanari-apply-k8s-'));
const controller = new Controller(dir);
after(async () => {
  await controller.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the standalone controller given a Kubernetes Rollout', () => {
  it('refuses it as bad input, saying who runs it, instead of treating it as a standalone one', async () => {
    const file = 'examples/kubernetes/gatewayapi/rollout.yaml';
    await assert.rejects(controller.apply(file, readFileSync(file, 'utf8')), (err: Error) => {
      assert.ok(err instanceof ControllerError, String(err));
      assert.equal(err.status, 400);
      assert.match(
        err.message,
        /holds a Kubernetes Rollout \(it has spec\.workloadRef\), which the kanari operator runs/,
      );
      return true;
    });
    assert.deepEqual(controller.names(), []);
  });
});
