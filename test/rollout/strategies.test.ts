/**
 * blueGreen, blueGreen after canary steps, and rolling, as the machine walks them: the
 * steps each strategy becomes, and what the status asks of the world at each point.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeStep } from '../../src/rollout/strategies/describe.js';
import { planOf } from '../../src/rollout/strategies/index.js';
import { rollingSteps } from '../../src/rollout/strategies/rolling.js';
import { rollingStrategy } from '../../src/config/schemas/rollout.js';
import { Driver, pool, specWith, v2 } from '../helpers/rollout.js';

const preview = { header: 'x-preview', value: '1' };

describe('blueGreen', () => {
  const bg = specWith({
    strategy: {
      blueGreen: {
        previewRoute: preview,
        prePromotionAnalysis: { templates: ['threshold'] },
        autoPromotionDelay: '1m',
        postPromotionAnalysis: { templates: ['threshold'] },
        scaleDownDelay: '30s',
      },
    },
  });

  it('becomes: preview route, pre-promotion analysis, the delay, the switch, post-promotion analysis', () => {
    assert.deepEqual(planOf(bg).steps.map(describeStep), [
      'open the preview route',
      'pre-promotion analysis (threshold)',
      'wait 1m before switching (autoPromotionDelay)',
      'switch every user to the new version',
      'post-promotion analysis (threshold); a failure switches back',
    ]);
    assert.equal(planOf(bg).scaleDownDelay, 30_000);
    assert.equal(planOf(bg).promotionAt, 3, 'confirm-promotion guards the switch');
  });

  it('previews, judges, switches everyone at once, judges again, and stops the old version only after scaleDownDelay', () => {
    const d = new Driver(bg).ack();
    d.send({ type: 'deploy', release: v2 }).ack();
    assert.deepEqual(d.status.traffic.routes, [preview]);
    assert.equal(d.status.traffic.weights.canary, 0, 'before the switch only the preview route reaches v2');
    const [pre] = d.running();
    d.advance(30_000);
    d.send({ type: 'analysisVerdict', id: pre!, verdict: 'Successful', reason: 'ok' }).ack();
    assert.ok(d.status.pauseUntil !== undefined);
    d.advance(59_000);
    assert.equal(d.status.traffic.weights.canary, 0);
    d.advance(1_000);
    assert.equal(d.status.traffic.weights.canary, 100, 'the switch is all at once');
    assert.equal(d.status.stable.version, 'v1', 'not promoted while the post-promotion analysis runs');
    const [post] = d.running();
    assert.match(post!, /-s5-threshold-1$/);
    d.send({ type: 'analysisVerdict', id: post!, verdict: 'Successful', reason: 'ok' }).ack();
    assert.equal(d.status.phase, 'FullDeploy');
    assert.equal(d.status.stable.version, 'v2');
    assert.deepEqual(
      d.status.instances.map((i) => i.id),
      ['v1', 'v2'],
      'the old version keeps running',
    );
    assert.match(d.status.message, /v1 stops in 30s \(scaleDownDelay\)/);
    d.advance(29_000);
    assert.ok(d.status.instances.some((i) => i.id === 'v1'));
    d.advance(1_000);
    assert.equal(d.status.phase, 'StableOnly');
    assert.deepEqual(
      d.status.instances.map((i) => i.id),
      ['v2'],
    );
    assert.equal(d.status.result?.outcome, 'Promoted');
  });

  it('a failed post-promotion analysis switches everyone back to the old version, which never stopped', () => {
    const d = new Driver(bg).ack();
    d.send({ type: 'deploy', release: v2 }).ack();
    d.send({ type: 'analysisVerdict', id: d.running()[0]!, verdict: 'Successful', reason: 'ok' }).ack();
    d.advance(60_000);
    assert.equal(d.status.traffic.weights.canary, 100);
    d.send({ type: 'analysisVerdict', id: d.running()[0]!, verdict: 'Failed', reason: 'success rate 0.93 < 0.99' });
    assert.equal(d.status.phase, 'Rollback');
    assert.deepEqual(d.status.traffic.weights, { canary: 0, baseline: 0 });
    assert.ok(
      d.status.instances.some((i) => i.id === 'v2'),
      'v2 stops only once the router sends it nothing',
    );
    d.ack();
    assert.equal(d.status.stable.version, 'v1');
    assert.equal(d.status.result?.outcome, 'RolledBack');
    assert.match(d.status.result!.reason, /success rate 0\.93/);
  });

  it('confirm-promotion guards the switch, not the bookkeeping after the post-promotion analysis', () => {
    const d = new Driver(
      specWith({
        strategy: { blueGreen: { postPromotionAnalysis: { templates: ['threshold'] }, scaleDownDelay: '0s' } },
        webhooks: [{ name: 'cab', type: 'confirm-promotion', url: 'http://127.0.0.1:9/' }],
      }),
    ).ack();
    d.send({ type: 'deploy', release: v2 }).ack();
    assert.deepEqual(
      [d.status.gate?.type, d.status.gate?.step, d.status.traffic.weights.canary],
      ['confirm-promotion', 0, 0],
    );
    d.send({ type: 'webhook', gate: 'confirm-promotion', step: 0, passed: true, reason: 'ok' }).ack();
    assert.equal(d.status.traffic.weights.canary, 100);
    d.send({ type: 'analysisVerdict', id: d.running()[0]!, verdict: 'Successful', reason: 'ok' }).ack();
    assert.deepEqual([d.status.phase, d.status.stable.version, d.status.gate], ['StableOnly', 'v2', undefined]);
  });

  it('without autoPromotion waits for `kanari promote` to switch', () => {
    const d = new Driver(specWith({ strategy: { blueGreen: { autoPromotion: false, scaleDownDelay: '0s' } } })).ack();
    d.send({ type: 'deploy', release: v2 }).ack();
    assert.equal(d.status.phase, 'Paused');
    d.advance(3_600_000);
    assert.equal(d.status.traffic.weights.canary, 0);
    d.send({ type: 'promote' }).ack();
    assert.equal(d.status.phase, 'StableOnly');
    assert.equal(d.status.stable.version, 'v2');
  });

  it('after canary steps: a small share is judged first, then everyone switches at once; background analysis ends at the switch', () => {
    const both = specWith({
      strategy: {
        canary: { analysis: { templates: ['sequential'] }, steps: [{ setWeight: 10 }, { pause: { duration: '1m' } }] },
        blueGreen: { previewRoute: preview, scaleDownDelay: '0s' },
      },
    });
    assert.equal(planOf(both).kind, 'blueGreen+canary');
    assert.deepEqual(planOf(both).steps.map(describeStep), [
      'open the preview route',
      'send 10% of users to the canary',
      'wait 1m',
      'switch every user to the new version',
    ]);
    const d = new Driver(both).ack();
    d.send({ type: 'deploy', release: v2 }).ack();
    assert.equal(d.status.traffic.weights.canary, 10);
    assert.deepEqual(
      d.status.analyses.map((a) => [a.scope, a.step]),
      [['background', 1]],
      'background analysis starts with the canary steps',
    );
    d.advance(60_000);
    // The switch and the promotion follow at once: nothing after the switch to wait for.
    assert.equal(d.status.stable.version, 'v2');
    assert.match(d.status.analyses[0]!.reason ?? '', /promotion|switch/);
  });

  it('refuses a comparing judge after the switch, at its line', async () => {
    const { loadDocuments } = await import('../../src/config/kinds.js');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'kanari-bg-')), 'r.yaml');
    writeFileSync(
      file,
      `apiVersion: kanari.dev/v1alpha1
kind: Rollout
metadata: { name: shop }
spec:
  listen: 8080
  stable: { version: v1, upstreams: [http://127.0.0.1:9001] }
  canary: { upstreams: [http://127.0.0.1:9002] }
  strategy:
    blueGreen:
      postPromotionAnalysis: { templates: [threshold, sequential] }
`,
    );
    assert.throws(
      () => loadDocuments(file),
      (err: Error) => {
        assert.match(
          err.message,
          /r\.yaml:10:55 spec\.strategy\.blueGreen\.postPromotionAnalysis\.templates\[1\]: "sequential" compares the new version with the old one/,
        );
        return true;
      },
    );
  });
});

describe('rolling', () => {
  const rolling = (r: Record<string, unknown>, oldSize: number, size: number) =>
    rollingSteps(rollingStrategy.parse(r), oldSize, size).steps.map((s) =>
      s.scale ? `${s.scale.canary}/${s.scale.stable}` : 'pause',
    );

  it('waves keep within maxSurge and maxUnavailable (as a Kubernetes Deployment counts them)', () => {
    assert.deepEqual(rolling({ maxSurge: 1, maxUnavailable: 0 }, 4, 4), ['1/3', '2/2', '3/1', '4/0']);
    assert.deepEqual(rolling({ maxSurge: 0, maxUnavailable: 1 }, 4, 4), ['0/3', '1/2', '2/1', '3/0', '4/0']);
    assert.deepEqual(rolling({ maxSurge: 2, maxUnavailable: 1 }, 4, 4), ['2/1', '4/0']);
    assert.deepEqual(rolling({ maxSurge: '25%', maxUnavailable: '25%' }, 8, 8), ['2/4', '6/0', '8/0']);
    assert.deepEqual(rolling({ maxSurge: 1, minReady: '10s' }, 2, 2), ['1/1', 'pause', '2/0']);
  });

  it('starts new instances, moves traffic in proportion, and only then shrinks the old pool', () => {
    const spec = specWith({
      stable: { version: 'v1', process: { command: 'true', instances: 4 } },
      canary: { process: { command: 'true', instances: 4 } },
      strategy: { rolling: { maxSurge: 1 } },
    });
    const d = new Driver(spec).ack();
    d.send({ type: 'deploy', release: pool('v2', 4) });
    assert.equal(d.status.phase, 'IncreaseTraffic', 'no canary to wait for: the first wave starts it');
    assert.deepEqual(
      d.status.instances.map((i) => [i.id, i.count]),
      [
        ['v1', undefined],
        ['v2', 1],
      ],
    );
    assert.equal(d.status.traffic.weights.canary, 0, 'no traffic before the new instance is ready');
    d.send({ type: 'instanceReady', id: 'v2' });
    assert.deepEqual(d.status.traffic.sizes, { v2: 1, v1: 3 });
    assert.equal(d.status.traffic.weights.canary, 25);
    assert.equal(
      d.status.instances[0]!.count,
      undefined,
      'the old pool shrinks only after the router applied the new split',
    );
    d.send({ type: 'trafficApplied', seq: d.status.trafficSeq });
    assert.equal(d.status.instances[0]!.count, 3);
    assert.ok(!d.status.ready.includes('v1'));
    d.send({ type: 'instanceReady', id: 'v1' });
    assert.equal(d.status.instances[1]!.count, 2, 'the next wave');
    d.ack();
    assert.equal(d.status.phase, 'StableOnly');
    assert.equal(d.status.stable.version, 'v2');
    assert.deepEqual(
      d.status.instances.map((i) => [i.id, i.count]),
      [['v2', undefined]],
      'v2 at its full size',
    );
  });

  it('plans its waves from the pools as deployed, not as the file says (a --set instance count, a bigger new pool)', () => {
    const spec = specWith({
      stable: { version: 'v1', process: { command: 'true', instances: 4 } },
      canary: { process: { command: 'true', instances: 4 } },
      strategy: { rolling: { maxSurge: 1 } },
    });
    const d = new Driver(spec).ack();
    d.send({ type: 'deploy', release: pool('v2', 6) });
    assert.deepEqual(d.status.pools, { from: 4, to: 6 });
    assert.deepEqual(
      d.status.instances.map((i) => [i.id, i.count]),
      [
        ['v1', undefined],
        ['v2', 3],
      ],
      'room for 6 + 1: three new ones at once',
    );
    d.send({ type: 'instanceReady', id: 'v2' });
    assert.equal(d.status.traffic.weights.canary, 50);
    assert.deepEqual(d.status.traffic.sizes, { v2: 3, v1: 3 });
    d.ack();
    assert.equal(d.status.stable.version, 'v2');
  });

  it('a failure mid-way sends everyone to the old instances and starts the stopped ones again before the new ones stop', () => {
    const spec = specWith({
      stable: { version: 'v1', process: { command: 'true', instances: 4 } },
      canary: { process: { command: 'true', instances: 4 } },
      strategy: { rolling: { maxSurge: 1, analysis: { templates: ['sequential'] } } },
    });
    const d = new Driver(spec).ack();
    d.send({ type: 'deploy', release: pool('v2', 4) });
    d.send({ type: 'instanceReady', id: 'v2' })
      .send({ type: 'trafficApplied', seq: d.status.trafficSeq })
      .send({ type: 'instanceReady', id: 'v1' });
    d.send({ type: 'instanceReady', id: 'v2' }).send({ type: 'trafficApplied', seq: d.status.trafficSeq });
    assert.equal(d.status.instances[0]!.count, 2);
    d.send({ type: 'analysisVerdict', id: d.running()[0]!, verdict: 'Failed', reason: 'errors' });
    assert.equal(d.status.phase, 'Rollback');
    assert.deepEqual(d.status.traffic, { stable: 'v1', weights: { canary: 0, baseline: 0 }, routes: [], mirror: 0 });
    assert.equal(d.status.instances[0]!.count, undefined, 'the old pool goes back to its full size');
    d.send({ type: 'trafficApplied', seq: d.status.trafficSeq });
    assert.deepEqual(d.status.stopping, ['v2']);
    d.send({ type: 'instanceStopped', id: 'v2' });
    assert.equal(d.status.phase, 'Rollback', 'done only once the old pool is whole again');
    d.send({ type: 'instanceReady', id: 'v1' });
    assert.equal(d.status.phase, 'StableOnly');
    assert.equal(d.status.result?.outcome, 'RolledBack');
  });

  it('is refused for static targets and when nothing could ever be replaced', async () => {
    const { rolloutSpec } = await import('../../src/config/schemas/rollout.js');
    const r = rolloutSpec.safeParse({
      listen: 0,
      stable: { version: 'v1', upstreams: ['http://127.0.0.1:1'] },
      canary: { process: { command: 'x', instances: 2 } },
      strategy: { rolling: { maxSurge: 0, maxUnavailable: '10%' } },
    });
    assert.ok(!r.success);
    const messages = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    assert.deepEqual(messages, [
      'stable: a rolling update replaces process instances a few at a time, so stable must be a process target',
      'strategy.rolling.maxSurge: maxSurge and maxUnavailable cannot both be 0 for 2 instances: nothing could ever be replaced',
    ]);
    const both = rolloutSpec.safeParse({
      listen: 0,
      stable: { version: 'v1', upstreams: ['http://127.0.0.1:1'] },
      canary: { upstreams: ['http://127.0.0.1:2'] },
      strategy: { rolling: {}, canary: { steps: [{ setWeight: 5 }] } },
    });
    assert.match(
      both.error!.issues[0]!.message,
      /set one of canary, blueGreen, rolling, or canary with blueGreen .*\(got canary and rolling\)/,
    );
  });
});
