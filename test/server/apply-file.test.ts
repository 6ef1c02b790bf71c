/**
 * What an apply may do to a standalone controller, without a controller: the Rollouts a
 * file holds (process targets anchored to its directory) and the changes refused because
 * of what runs now.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { RolloutDocument } from '../../src/config/schemas/rollout.js';
import { initialStatus } from '../../src/rollout/machine.js';
import type { RolloutStatus } from '../../src/rollout/types.js';
import { readRolloutFile, refuseChange, type Running } from '../../src/server/apply-file.js';
import { ControllerError } from '../../src/server/controller-error.js';

const rolloutText = (name: string, port: number, stable = 'v1', cwd = '') => `apiVersion: kanari.dev/v1alpha1
kind: Rollout
metadata: { name: ${name} }
spec:
  listen: 127.0.0.1:${port}
  stable: { version: ${stable}, process: { command: node app.js${cwd} } }
  canary: { upstreams: ["http://127.0.0.1:9002"] }
  strategy: { canary: { steps: [{ setWeight: 10 }, { pause: {} }] } }
`;

const template = `apiVersion: kanari.dev/v1alpha1
kind: AnalysisTemplate
metadata: { name: slo }
spec:
  threshold:
    metrics:
      - name: success-rate
        provider: { builtin: { signal: successRate } }
        interval: 30s
        count: 4
        successCondition: result >= 0.995
`;

/** The one Rollout of a text, as the controller would hold it. */
const doc = (text: string): RolloutDocument => readRolloutFile('/srv/shop/rollout.yaml', text).rollouts[0]!;

const running = (document: RolloutDocument, phase: RolloutStatus['phase'] = 'StableOnly'): Running => ({
  document,
  engine: { status: { ...initialStatus(document.spec, 0), phase } },
});

/** Asserts `f` throws a ControllerError of `status` whose message matches `message`. */
function refuses(f: () => unknown, status: number, message: RegExp): void {
  assert.throws(f, (err: Error) => {
    assert.ok(err instanceof ControllerError, String(err));
    assert.equal(err.status, status);
    assert.match(err.message, message);
    return true;
  });
}

const SOCKET = '/var/lib/kanari/run/router.sock';

describe('readRolloutFile', () => {
  it('gives the Rollouts with process targets run from the file’s directory, and the templates by name', () => {
    const file = readRolloutFile(
      '/srv/shop/rollout.yaml',
      `${rolloutText('shop', 8080, 'v1', ', cwd: app')}---\n${rolloutText('cart', 8081)}---\n${template}`,
    );
    assert.deepEqual(
      file.rollouts.map((r) => [r.metadata.name, r.spec.stable.process?.cwd]),
      [
        ['shop', '/srv/shop/app'],
        ['cart', '/srv/shop'],
      ],
    );
    assert.deepEqual(file.rollouts[0]!.spec.canary.upstreams, ['http://127.0.0.1:9002'], 'static targets untouched');
    assert.deepEqual(Object.keys(file.templates), ['slo']);
    assert.ok(file.templates.slo!.threshold);
  });

  it('refuses a file that is not valid, with its issues', () => {
    assert.throws(
      () => readRolloutFile('/srv/shop/rollout.yaml', rolloutText('shop', 8080).replace('listen', 'lisen')),
      (err: Error) => err instanceof ControllerError && err.status === 400 && (err.issues?.length ?? 0) > 0,
    );
  });

  it('refuses a file with no Rollout, naming the kinds it holds', () => {
    refuses(() => readRolloutFile('t.yaml', template), 400, /^t\.yaml holds no Rollout \(kinds: AnalysisTemplate\)$/);
  });

  it('refuses a Kubernetes Rollout, saying who runs it', () => {
    const file = 'examples/kubernetes/gatewayapi/rollout.yaml';
    refuses(() => readRolloutFile(file, readFileSync(file, 'utf8')), 400, /holds a Kubernetes Rollout/);
  });
});

describe('refuseChange', () => {
  const shop = doc(rolloutText('shop', 8080));

  it('takes a new rollout, and the same file again in any phase', () => {
    refuseChange(shop, SOCKET, []);
    refuseChange(shop, SOCKET, [running(shop, 'SmallTraffic')]);
  });

  it('refuses a state directory whose router socket path is too long for a unix socket', () => {
    refuses(() => refuseChange(shop, `/${'d'.repeat(100)}/run/router.sock`, []), 400, /shorter --state directory/);
  });

  it('refuses port 0, which users cannot reach, should a document that was not loaded from a file ask for it', () => {
    // Loading a file refuses it already (spec.listen); this is the controller's own guard.
    const anywhere = { ...shop, spec: { ...shop.spec, listen: { ...shop.spec.listen, port: 0 } } };
    refuses(() => refuseChange(anywhere, SOCKET, []), 400, /needs a fixed port .*\(got 0\)/);
  });

  it('refuses a port another rollout listens on, but not its own', () => {
    const cart = doc(rolloutText('cart', 8080));
    refuses(() => refuseChange(cart, SOCKET, [running(shop)]), 409, /port 8080 is already where rollout shop listens/);
    refuseChange(doc(rolloutText('shop', 8080).replace('9002', '9003')), SOCKET, [running(shop)]);
  });

  it('refuses a changed file while a rollout is in flight, not once it has ended', () => {
    const moved = doc(rolloutText('shop', 8081));
    refuses(() => refuseChange(moved, SOCKET, [running(shop, 'Paused')]), 409, /in phase Paused .*promote or abort it/);
    refuseChange(moved, SOCKET, [running(shop, 'StableOnly')]);
    refuseChange(moved, SOCKET, [running(shop, 'Aborted')]);
  });

  it('refuses a new stable once the first release runs', () => {
    refuses(
      () => refuseChange(doc(rolloutText('shop', 8080, 'v2')), SOCKET, [running(shop)]),
      409,
      /spec\.stable only names the first release and v1 runs now/,
    );
  });
});
