/**
 * set-weight: a person holds the canary at a weight of their choosing. Automatic steps stop,
 * the judges keep judging (a Failed verdict still rolls back), and resume goes back to the
 * plan where it was, so no step of the plan is skipped by a hold.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MemoryStatusStore } from '../../src/store/memory.js';
import { doc, World } from '../helpers/engine-world.js';
import { Driver, spec, specWith, v2 } from '../helpers/rollout.js';

const plan = [{ setWeight: 10 }, { pause: { duration: '1m' } }, { setWeight: 50 }, { pause: {} }];

function deployed(steps: unknown[] = plan): Driver {
  return new Driver(spec(steps)).ack().send({ type: 'deploy', release: v2 }).ack();
}

function inMonitor(steps: unknown[] = plan): Driver {
  const d = deployed(steps);
  assert.equal(d.status.phase, 'Monitor');
  return d;
}

describe('set-weight (hold)', () => {
  it('holds at the weight asked, stops the steps, and resume goes on from where the plan was', () => {
    const d = inMonitor();
    d.advance(20_000).send({ type: 'setWeight', weight: 30, reason: 'watching the p99' });
    assert.equal(d.rejected, undefined);
    assert.equal(d.status.phase, 'Paused');
    assert.deepEqual(d.status.paused?.hold, { weight: 30, planWeights: { canary: 10, baseline: 0 } });
    assert.equal(d.status.traffic.weights.canary, 30);
    assert.match(d.status.message, /held at 30% by hand: watching the p99/);
    d.ack().advance(5 * 60_000);
    assert.equal(d.status.phase, 'Paused', 'a timed pause does not end under a hold');
    assert.equal(d.status.traffic.weights.canary, 30);
    // A second set-weight moves the hold, and resume still goes back to the plan's weight.
    d.send({ type: 'setWeight', weight: 5 }).ack();
    assert.equal(d.status.traffic.weights.canary, 5);
    assert.equal(d.status.paused?.hold?.planWeights.canary, 10);
    d.send({ type: 'resume' });
    assert.equal(d.rejected, undefined);
    assert.equal(d.status.phase, 'Monitor');
    assert.equal(d.status.traffic.weights.canary, 10);
    assert.equal(d.status.paused, undefined);
    d.ack().advance(39_000);
    assert.equal(d.status.phase, 'Monitor', 'the timed pause keeps the 40 s it had left, not a new minute');
    d.advance(1_000);
    assert.equal(d.status.traffic.weights.canary, 50);
  });

  it('keeps judging: a Failed analysis under a hold still rolls back to stable', () => {
    const d = inMonitor([{ setWeight: 10 }, { analysis: { templates: ['sequential'] } }, { pause: {} }]);
    d.send({ type: 'setWeight', weight: 40 }).ack();
    const [id] = d.running();
    assert.ok(id, 'the analysis runs on under the hold');
    d.send({ type: 'analysisVerdict', id, verdict: 'Failed', reason: 'errors 5x' });
    assert.equal(d.status.phase, 'Rollback');
    assert.equal(d.status.traffic.weights.canary, 0);
    assert.equal(d.status.paused, undefined);
  });

  it('promote from a hold takes the next step from the plan, abort rolls back', () => {
    const d = inMonitor();
    d.send({ type: 'setWeight', weight: 70 }).ack();
    d.send({ type: 'promote' });
    assert.equal(d.rejected, undefined);
    assert.equal(d.status.traffic.weights.canary, 50, 'the next step sets its own weight');
    d.ack();
    assert.equal(d.status.paused?.reason, 'step');
    // Held on an indefinite pause step: resume goes on to the promotion, not back to the pause.
    d.send({ type: 'setWeight', weight: 20 }).ack();
    assert.equal(d.status.traffic.weights.canary, 20);
    d.send({ type: 'abort', reason: 'enough' });
    assert.equal(d.status.phase, 'Rollback');
    assert.equal(d.status.traffic.weights.canary, 0);
  });

  it('resume from a hold on a pause step goes on with the plan', () => {
    const d = deployed([{ setWeight: 10 }, { pause: {} }, { setWeight: 60 }, { pause: {} }]);
    assert.equal(d.status.paused?.reason, 'step');
    d.send({ type: 'setWeight', weight: 0 }).ack();
    assert.equal(d.status.traffic.weights.canary, 0);
    d.send({ type: 'resume' }).ack();
    assert.equal(d.status.traffic.weights.canary, 60);
  });

  it('refuses a hold with no canary in flight, before it is ready, while promoting, or on a plan without weights', () => {
    const idle = new Driver(spec(plan)).ack();
    idle.send({ type: 'setWeight', weight: 10 });
    assert.match(idle.rejected ?? '', /no rollout is in progress/);

    const starting = new Driver(spec(plan)).ack().send({ type: 'deploy', release: v2 });
    starting.send({ type: 'setWeight', weight: 10 });
    assert.match(starting.rejected ?? '', /not ready yet/);

    const promoting = inMonitor();
    promoting.send({ type: 'promote', full: true }).send({ type: 'setWeight', weight: 10 });
    assert.match(promoting.rejected ?? '', /already promoting/);

    const blueGreen = new Driver(specWith({ strategy: { blueGreen: {} } })).ack();
    blueGreen.send({ type: 'deploy', release: v2 }).ack().send({ type: 'setWeight', weight: 10 });
    assert.match(blueGreen.rejected ?? '', /blueGreen/);
  });

  it('refuses a hold over an Inconclusive pause, which asks for a decision first', () => {
    const d = inMonitor([{ setWeight: 10 }, { analysis: { templates: ['sequential'] } }, { pause: {} }]);
    const [id] = d.running();
    d.send({ type: 'analysisVerdict', id: id!, verdict: 'Inconclusive', reason: 'too few requests' });
    assert.equal(d.status.paused?.reason, 'inconclusive');
    d.send({ type: 'setWeight', weight: 30 });
    assert.match(d.rejected ?? '', /Inconclusive.*resume, promote or abort/);
  });

  it('on the engine: the router serves the held weight, a new engine on the same store keeps holding, and the event is saved', async () => {
    const w = new World(doc([{ setWeight: 20 }, { pause: { duration: '1m' } }, { setWeight: 50 }]));
    let engine = w.open();
    await w.deploy(engine);
    await w.until(engine, 'the pause step', () => engine.status.phase === 'Monitor' && engine.status.step === 1);
    const held = await engine.send({ type: 'setWeight', weight: 35, reason: 'by hand' });
    assert.equal(held.rejected, undefined);
    await w.until(engine, 'the router serves 35%', () => w.traffic.served?.weights.canary === 35);
    await engine.close();

    engine = w.open();
    w.clock.advance(5 * 60_000);
    for (let i = 0; i < 5; i++) await w.round(engine);
    assert.equal(engine.status.phase, 'Paused');
    assert.equal(engine.status.paused?.hold?.weight, 35);
    assert.equal(w.traffic.served?.weights.canary, 35, 'past the pause step, still held');
    const events = (w.store.status as MemoryStatusStore).events;
    assert.ok(events.some((e) => e.type === 'setWeight' && e.data.weight === 35 && e.data.reason === 'by hand'));
    await engine.send({ type: 'resume' });
    await w.until(engine, 'the plan goes on to 50%', () => w.traffic.applied.some((t) => t.weights.canary === 50));
    assert.equal(engine.status.paused, undefined);
    await engine.close();
  });
});
