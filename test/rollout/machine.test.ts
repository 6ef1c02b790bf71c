import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Driver, spec, v2 } from '../helpers/rollout.js';

describe('rollout machine', () => {
  it('walks a canary from StableOnly through each step to FullDeploy and back to StableOnly, with v2 as stable', () => {
    const d = new Driver(
      spec([{ setWeight: 5 }, { pause: { duration: '1m' } }, { setWeight: 50 }, { pause: { duration: '30s' } }]),
    ).ack();
    assert.equal(d.status.phase, 'StableOnly');
    assert.deepEqual(d.status.ready, ['v1']);
    const phases: string[] = [];
    const record = () => phases.push(d.status.phase);
    d.send({ type: 'deploy', release: v2 });
    record();
    d.send({ type: 'instanceReady', id: 'v2' });
    record();
    assert.equal(d.status.traffic.weights.canary, 5);
    d.send({ type: 'trafficApplied', seq: d.status.trafficSeq });
    record();
    d.advance(59_000);
    record();
    d.advance(1_000);
    record();
    assert.equal(d.status.traffic.weights.canary, 50);
    d.ack();
    d.now += 30_000;
    d.send({ type: 'tick' });
    record();
    assert.deepEqual(d.status.traffic.weights, { canary: 100, baseline: 0 });
    d.ack();
    record();
    assert.deepEqual(phases, [
      'CanaryDeploy',
      'SmallTraffic',
      'Monitor',
      'Monitor',
      'Monitor',
      'FullDeploy',
      'StableOnly',
    ]);
    assert.equal(d.status.stable.version, 'v2');
    assert.equal(d.status.previous?.version, 'v1');
    assert.deepEqual(d.status.traffic, { stable: 'v2', weights: { canary: 0, baseline: 0 }, routes: [], mirror: 0 });
    assert.deepEqual(
      d.status.instances.map((i) => i.id),
      ['v2'],
    );
    assert.equal(d.status.result?.outcome, 'Promoted');
    assert.ok(d.announcements.some((a) => a.startsWith('post-rollout: v2 promoted')));
  });

  it('moves on only when the data plane has applied the step (IncreaseTraffic until trafficApplied)', () => {
    const d = new Driver(spec([{ setWeight: 5 }, { setWeight: 25 }, { pause: {} }])).ack();
    d.send({ type: 'deploy', release: v2 }).send({ type: 'instanceReady', id: 'v2' });
    const seq = d.status.trafficSeq;
    d.send({ type: 'trafficApplied', seq });
    assert.equal(d.status.phase, 'IncreaseTraffic');
    assert.equal(d.status.traffic.weights.canary, 25);
    d.send({ type: 'trafficApplied', seq: seq - 1 });
    assert.equal(d.status.phase, 'IncreaseTraffic', 'an old acknowledgement does not count');
    d.send({ type: 'trafficApplied', seq: d.status.trafficSeq });
    assert.equal(d.status.phase, 'Paused');
    assert.equal(d.status.paused?.reason, 'step');
  });

  it('a Failed step analysis rolls back: traffic to stable first, then the canary is stopped', () => {
    const d = new Driver(
      spec([{ setWeight: 10 }, { analysis: { templates: ['sequential'] } }, { setWeight: 50 }]),
    ).ack();
    d.send({ type: 'deploy', release: v2 }).ack();
    assert.equal(d.status.phase, 'Monitor');
    const [id] = d.running();
    d.send({ type: 'analysisVerdict', id: id!, verdict: 'Failed', reason: 'errors 5x' });
    assert.equal(d.status.phase, 'Rollback');
    assert.equal(d.status.traffic.weights.canary, 0);
    assert.ok(
      d.status.instances.some((i) => i.id === 'v2'),
      'the canary keeps running until traffic has left it',
    );
    d.send({ type: 'trafficApplied', seq: d.status.trafficSeq });
    assert.deepEqual(d.status.stopping, ['v2']);
    d.send({ type: 'instanceStopped', id: 'v2' });
    assert.equal(d.status.phase, 'StableOnly');
    assert.equal(d.status.result?.outcome, 'RolledBack');
    assert.match(d.status.result!.reason, /analysis sequential is Failed: errors 5x/);
  });

  it('an Error verdict rolls back as a Failed one does; a Successful one moves on', () => {
    const d = new Driver(spec([{ setWeight: 10 }, { analysis: { templates: ['a', 'b'] } }, { pause: {} }])).ack();
    d.send({ type: 'deploy', release: v2 }).ack();
    const [a, b] = d.running();
    d.send({ type: 'analysisVerdict', id: a!, verdict: 'Successful', reason: 'ok' });
    assert.equal(d.status.phase, 'Monitor', 'waits for every template');
    d.send({ type: 'analysisVerdict', id: b!, verdict: 'Successful', reason: 'ok' });
    assert.equal(d.status.phase, 'Paused');
    const e = new Driver(spec([{ setWeight: 10 }, { analysis: { templates: ['a'] } }])).ack();
    e.send({ type: 'deploy', release: v2 }).ack();
    e.send({ type: 'analysisVerdict', id: e.running()[0]!, verdict: 'Error', reason: 'bad query' }).ack();
    assert.equal(e.status.result?.outcome, 'RolledBack');
  });

  it('Inconclusive pauses; resume runs the analysis again; promote accepts it', () => {
    const d = new Driver(
      spec([{ setWeight: 10 }, { analysis: { templates: ['t'] } }, { setWeight: 50 }, { pause: {} }]),
    ).ack();
    d.send({ type: 'deploy', release: v2 }).ack();
    d.send({ type: 'analysisVerdict', id: d.running()[0]!, verdict: 'Inconclusive', reason: 'Prometheus unreachable' });
    assert.equal(d.status.phase, 'Paused');
    assert.equal(d.status.paused?.reason, 'inconclusive');
    assert.match(d.status.message, /Prometheus unreachable/);
    d.send({ type: 'resume' });
    assert.equal(d.status.phase, 'Monitor');
    assert.deepEqual(d.running(), ['r1-s2-t-2']);
    d.send({ type: 'analysisVerdict', id: 'r1-s2-t-2', verdict: 'Inconclusive', reason: 'still unreachable' });
    d.send({ type: 'promote' }).ack();
    assert.equal(d.status.traffic.weights.canary, 50);
    assert.equal(d.status.phase, 'Paused');
    assert.equal(d.status.paused?.reason, 'step');
  });

  it('a background analysis starts at its step, can only stop the rollout, and ends at promotion', () => {
    const d = new Driver(
      spec([{ setWeight: 10 }, { pause: { duration: '10s' } }, { setWeight: 50 }, { pause: { duration: '10s' } }], {
        analysis: { templates: ['sequential'], startingStep: 2 },
      }),
    ).ack();
    d.send({ type: 'deploy', release: v2 }).ack();
    assert.deepEqual(d.running(), []);
    d.advance(10_000);
    assert.deepEqual(d.running(), ['r1-bg-sequential-1']);
    d.advance(10_000);
    assert.equal(d.status.result?.outcome, 'Promoted');
    assert.deepEqual(d.running(), [], 'stopped at promotion');

    const e = new Driver(
      spec([{ setWeight: 10 }, { pause: { duration: '1h' } }], { analysis: { templates: ['sequential'] } }),
    ).ack();
    e.send({ type: 'deploy', release: v2 }).ack();
    e.send({ type: 'analysisVerdict', id: 'r1-bg-sequential-1', verdict: 'Failed', reason: 'canary errors 10x' }).ack();
    assert.equal(e.status.result?.outcome, 'RolledBack');
    assert.equal(e.status.phase, 'StableOnly');
  });

  it("a person can pause (keeping a timed pause's remaining time), resume, abort, retry and undo", () => {
    const d = new Driver(spec([{ setWeight: 10 }, { pause: { duration: '60s' } }])).ack();
    d.send({ type: 'deploy', release: v2 }).ack();
    d.advance(20_000).send({ type: 'pause' });
    assert.equal(d.status.phase, 'Paused');
    assert.equal(d.status.paused?.remaining, 40_000);
    d.advance(600_000);
    assert.equal(d.status.phase, 'Paused', 'a paused rollout does not move');
    d.send({ type: 'resume' });
    assert.equal(d.status.pauseUntil, d.now + 40_000);
    d.send({ type: 'abort' }).ack();
    assert.equal(d.status.phase, 'Aborted');
    assert.equal(d.status.result?.outcome, 'Aborted');
    d.send({ type: 'retry' });
    assert.equal(d.status.phase, 'CanaryDeploy');
    assert.equal(d.status.revision, 2);
    d.ack().send({ type: 'promote', full: true }).ack();
    assert.equal(d.status.stable.version, 'v2');
    d.send({ type: 'undo' });
    assert.equal(d.status.canary?.version, 'v1', 'undo rolls the previous stable out through the same plan');
    assert.equal(d.status.phase, 'CanaryDeploy');
  });

  it('refuses commands that make no sense now, with a reason, and changes nothing', () => {
    const d = new Driver(spec([{ setWeight: 10 }, { analysis: { templates: ['t'] } }])).ack();
    const before = d.status;
    for (const [type, why] of [
      ['promote', /no rollout/],
      ['abort', /no rollout/],
      ['pause', /cannot pause/],
      ['resume', /not paused/],
      ['retry', /nothing to retry/],
      ['undo', /nothing to undo/],
    ] as const) {
      d.send({ type });
      assert.match(d.rejected ?? '', why, type);
      assert.equal(d.status, before);
    }
    d.send({ type: 'deploy', release: { ...v2, version: 'v1' } });
    assert.match(d.rejected!, /already the stable/);
    d.send({ type: 'deploy', release: v2 });
    d.send({ type: 'deploy', release: { ...v2, version: 'v3' } });
    assert.match(d.rejected!, /abort it or wait/);
    d.ack().send({ type: 'promote' });
    assert.match(d.rejected!, /is an analysis/);
  });

  it('a progress deadline aborts a canary that never becomes ready', () => {
    const d = new Driver(spec([{ setWeight: 10 }], { progressDeadline: '2m' })).ack();
    d.send({ type: 'deploy', release: v2 });
    d.now += 119_000;
    d.send({ type: 'tick' });
    assert.equal(d.status.phase, 'CanaryDeploy');
    d.now += 2_000;
    d.send({ type: 'tick' });
    assert.equal(d.status.phase, 'Rollback');
    assert.match(d.status.rollback!.reason, /progressDeadline.*waiting for v2 to become ready/);
  });

  it('the canary crashing rolls back; the stable crashing does not', () => {
    const d = new Driver(spec([{ setWeight: 10 }, { pause: {} }])).ack();
    d.send({ type: 'deploy', release: v2 }).ack();
    d.send({ type: 'instanceFailed', id: 'v1', reason: 'exited with code 1' });
    assert.equal(d.status.phase, 'Paused');
    d.send({ type: 'instanceFailed', id: 'v2', reason: 'exited with code 1' });
    assert.equal(d.status.phase, 'Rollback');
    assert.match(d.status.rollback!.reason, /v2 failed: exited with code 1/);
  });

  it('a rollback the router refuses three times is Degraded, and finishes once the router takes it', () => {
    const d = new Driver(spec([{ setWeight: 10 }, { pause: {} }])).ack();
    d.send({ type: 'deploy', release: v2 }).ack().send({ type: 'abort' });
    for (let i = 0; i < 3; i++) d.send({ type: 'trafficFailed', seq: d.status.trafficSeq, reason: 'ECONNREFUSED' });
    assert.equal(d.status.phase, 'Degraded');
    assert.equal(d.status.traffic.weights.canary, 0);
    d.ack();
    assert.equal(d.status.phase, 'Aborted');
  });

  it('header routes, mirroring and a baseline are traffic steps', () => {
    const d = new Driver(
      spec(
        [
          { setHeaderRoute: { match: { header: 'x-canary', value: 'always' } } },
          { setMirror: { percent: 10 } },
          { setWeight: 10 },
          { baseline: {} },
          { setWeight: 40 },
          { setMirror: {} },
          { setHeaderRoute: {} },
          { pause: {} },
        ],
        { baseline: { upstreams: ['http://127.0.0.1:9003'] } },
      ),
    ).ack();
    d.send({ type: 'deploy', release: v2 }).ack();
    const t = d.status.traffic;
    assert.deepEqual(t.routes, []);
    assert.equal(t.mirror, 0);
    assert.deepEqual(t.weights, { canary: 40, baseline: 30 });
    assert.equal(t.baseline, 'v1-baseline');
    assert.deepEqual(
      d.status.instances.map((i) => i.id),
      ['v1', 'v2', 'v1-baseline'],
    );
    assert.deepEqual(d.status.instances[2]!.release.target.upstreams, ['http://127.0.0.1:9003']);
    d.send({ type: 'abort' }).ack();
    assert.deepEqual(
      d.status.instances.map((i) => i.id),
      ['v1'],
      'the baseline goes with the canary',
    );
  });
});
