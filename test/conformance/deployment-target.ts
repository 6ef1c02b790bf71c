/**
 * What every `DeploymentTarget` must do, run against each implementation (the fake, the
 * static target, and the process target with real processes): an instance is absent until
 * ensured, ready with its size's endpoints after, ensured twice without a second start,
 * resizable when it says so, and absent again once removed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TargetSpec } from '../../src/config/schemas/rollout.js';
import type { DeploymentTarget, TargetEvents } from '../../src/rollout/seams/targets.js';

export interface TargetUnderTest {
  target: DeploymentTarget;
  /** A target spec this target runs, of `size` copies (a target that cannot choose ignores it). */
  spec(size: number): TargetSpec;
  /** Its endpoints are one address in front of every copy (a Kubernetes Service), not one per copy. */
  oneAddress?: boolean;
  close(): Promise<void>;
}

export function deploymentTargetConformance(
  name: string,
  open: (events: TargetEvents) => Promise<TargetUnderTest>,
): void {
  describe(`DeploymentTarget conformance: ${name}`, () => {
    const exits: string[] = [];
    const events: TargetEvents = { exited: (id, why) => exits.push(`${id}: ${why}`), save: (write) => write() };
    const withTarget = (test: (u: TargetUnderTest) => Promise<void>) => async () => {
      const u = await open(events);
      try {
        await test(u);
      } finally {
        await u.target.stopAll();
        await u.close();
      }
    };
    const request = (u: TargetUnderTest, id: string, size: number) => ({
      id,
      version: id,
      target: u.spec(size),
      size,
    });

    it(
      'accepts the spec it runs; an instance is absent until ensured, then ready with endpoints',
      withTarget(async (u) => {
        assert.ok(u.target.accepts(u.spec(1)));
        assert.deepEqual(u.target.readiness('v1'), { state: 'absent' });
        await u.target.ensure(request(u, 'v1', 1));
        const r = u.target.readiness('v1');
        assert.equal(r.state, 'ready');
        assert.ok(r.state === 'ready' && r.endpoints.length >= 1 && r.size >= 1, JSON.stringify(r));
        assert.deepEqual(exits, []);
      }),
    );

    it(
      'says an instance is starting as soon as ensure is called, so the engine does not ask for it twice',
      withTarget(async (u) => {
        const ensured = u.target.ensure(request(u, 'v1', 1));
        assert.notEqual(u.target.readiness('v1').state, 'absent');
        await ensured;
      }),
    );

    it(
      'ensures the same instance twice without starting it again',
      withTarget(async (u) => {
        await u.target.ensure(request(u, 'v1', 1));
        const before = u.target.readiness('v1');
        await u.target.ensure(request(u, 'v1', 1));
        assert.deepEqual(u.target.readiness('v1'), before);
      }),
    );

    it(
      'resizes in place when it declares it can, and refuses when it cannot',
      withTarget(async (u) => {
        await u.target.ensure(request(u, 'v1', 1));
        if (!u.target.resizes) {
          await assert.rejects(u.target.resize('v1', 2));
          return;
        }
        await u.target.resize('v1', 2);
        const grown = u.target.readiness('v1');
        const addresses = u.oneAddress ? 1 : 2;
        assert.ok(
          grown.state === 'ready' && grown.size === 2 && grown.endpoints.length === addresses,
          JSON.stringify(grown),
        );
        await u.target.resize('v1', 1);
        const shrunk = u.target.readiness('v1');
        assert.ok(shrunk.state === 'ready' && shrunk.size === 1, JSON.stringify(shrunk));
        assert.deepEqual(exits, [], 'a copy stopped on purpose is not an exit');
      }),
    );

    it(
      'removes an instance (and one it never ran) without error',
      withTarget(async (u) => {
        await u.target.ensure(request(u, 'v1', 1));
        await u.target.remove('v1');
        assert.deepEqual(u.target.readiness('v1'), { state: 'absent' });
        await u.target.remove('never-started');
      }),
    );
  });
}
