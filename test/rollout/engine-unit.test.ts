/**
 * The engine on in-memory fakes and a virtual clock: no sockets, no processes. Each test
 * drives rounds by hand (one virtual second each) and asserts what the machine and the
 * world saw: a promotion, a rollback on Failed, a pause on Inconclusive, a restart that
 * resumes mid-step, a router that has not yet applied a table, and a rollback behind a
 * router that accepts the table but never serves it. An error that says this process
 * stopped acting (an operator replica whose lease lapsed) is nobody's failure, and a closed
 * engine turns nothing that arrives late into a transition.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MemoryStatusStore } from '../../src/store/memory.js';
import { doc, World } from '../helpers/engine-world.js';
import { MemoryRunStore, memoryStore } from '../../src/store/memory.js';
import type { AnalysisRunState } from '../../src/analysis/run.js';
import type { RunStore } from '../../src/rollout/seams/store.js';
import { TrafficRefused } from '../../src/rollout/seams/traffic.js';
import type { NotActing } from '../../src/shared/not-acting.js';

/** What a fenced write throws once the lease lapsed (src/kube/lease.ts' NotLeader), as the engine's seams see it. */
const notLeader = () =>
  Object.assign(new Error('this operator replica no longer holds the leader lease; it writes nothing'), {
    notActing: true,
  } satisfies NotActing);

describe('rollout engine on fakes', () => {
  it('promotes: the canary starts at its size, each weight is served before the next step, the old version stops', async () => {
    const w = new World(doc([{ setWeight: 20 }, { pause: { duration: '3s' } }, { setWeight: 50 }], ['success-rate']));
    const engine = w.open();
    await w.deploy(engine);
    await w.until(engine, 'promoted', () => engine.status.result !== undefined);
    assert.equal(engine.status.result?.outcome, 'Promoted', engine.status.result?.reason);
    assert.equal(engine.status.stable.version, 'v2');
    const weights = w.traffic.applied.map((t) => t.weights.canary).filter((x, i, all) => x !== all[i - 1]);
    assert.deepEqual(weights, [0, 20, 50, 100, 0], 'each split in order, then v2 as the new stable');
    assert.equal(w.traffic.endpoints.v2?.length, 2, 'the canary ran at the size its target declares');
    assert.deepEqual(w.target.removed, ['v1']);
    assert.deepEqual([...w.target.running.keys()], ['v2']);
    const events = (w.store.status as MemoryStatusStore).events.map((e) => e.type);
    assert.ok(events.includes('deploy') && events.includes('result'), events.join(','));
    await engine.close();
  });

  it('rolls back on a Failed analysis: traffic goes back to stable first, then the canary is stopped', async () => {
    const w = new World(doc([{ setWeight: 20 }, { pause: { duration: '1m' } }], ['success-rate']));
    const engine = await w.canaryAt20();
    w.stats.canaryErrorRate = 0.8;
    await w.until(engine, 'rolled back', () => engine.status.result !== undefined);
    assert.equal(engine.status.result?.outcome, 'RolledBack');
    assert.match(engine.status.result!.reason, /analysis success-rate is Failed/);
    assert.deepEqual(w.traffic.served?.weights, { canary: 0, baseline: 0 });
    assert.equal(w.traffic.served?.stable, 'v1');
    assert.deepEqual(w.target.removed, ['v2']);
    await engine.close();
  });

  it('pauses on an Inconclusive analysis and waits for a person; resume runs it again', async () => {
    const w = new World(doc([{ setWeight: 20 }, { pause: { duration: '1m' } }], ['success-rate']));
    const engine = await w.canaryAt20();
    w.stats.canaryErrorRate = 0.2;
    await w.until(engine, 'paused', () => engine.status.phase === 'Paused');
    assert.equal(engine.status.paused?.reason, 'inconclusive');
    for (let i = 0; i < 5; i++) await w.round(engine);
    assert.equal(engine.status.phase, 'Paused', 'it waits, however long');
    assert.equal(w.traffic.served?.weights.canary, 20, 'with the canary still at its share');
    w.stats.canaryErrorRate = 0;
    assert.equal((await engine.send({ type: 'resume' })).rejected, undefined);
    assert.equal(engine.status.analyses.filter((a) => a.endedAt === undefined).length, 1, 'a new run');
    await engine.close();
  });

  it('a step analysis waits for the data a pass needs up to progressDeadline, then is Inconclusive and pauses', async () => {
    const document = doc([{ setWeight: 20 }, { analysis: { templates: ['needs-data'] } }]);
    document.spec.progressDeadline = 30_000;
    const w = new World(document);
    const engine = await w.canaryAt20();
    await w.until(engine, 'the step analysis runs', () => engine.status.analyses.length === 1);
    const started = w.clock.now();
    await w.until(engine, 'paused', () => engine.status.phase === 'Paused');
    assert.ok(w.clock.now() - started >= 30_000, 'not before the deadline');
    const [entry] = engine.status.analyses;
    assert.equal(entry!.verdict, 'Inconclusive');
    assert.match(entry!.reason ?? '', /not enough data by the step's deadline: \d+ of 1000000 canary requests/);
    assert.equal(engine.status.paused?.reason, 'inconclusive');
    await engine.close();
  });

  it('a new engine on the same store resumes mid-step: same pause end, same analysis, nothing restarted', async () => {
    const w = new World(doc([{ setWeight: 20 }, { pause: { duration: '5m' } }, { setWeight: 50 }], ['success-rate']));
    let engine = w.open();
    await w.deploy(engine);
    await w.until(engine, 'the pause step', () => engine.status.phase === 'Monitor' && engine.status.step === 1);
    for (let i = 0; i < 3; i++) await w.round(engine);
    const { pauseUntil, analyses } = engine.status;
    const measured = engine.report(analyses[0]!.id)!.measurements;
    assert.ok(measured > 0);
    await engine.close();
    const started = w.target.started.length;

    engine = w.open();
    assert.equal(engine.status.phase, 'Monitor');
    assert.equal(engine.status.step, 1);
    assert.equal(engine.status.pauseUntil, pauseUntil, 'the pause keeps its end');
    assert.equal(engine.report(analyses[0]!.id)!.measurements, measured, 'the analysis kept its measurements');
    await w.round(engine);
    assert.equal(w.target.started.length, started + 2, 'both instances were ensured again (a real target adopts)');
    w.clock.advance(5 * 60_000);
    await w.until(engine, 'the rollout goes on past the pause', () => engine.status.result !== undefined);
    assert.equal(engine.status.result?.outcome, 'Promoted');
    assert.ok(w.traffic.applied.some((t) => t.weights.canary === 50));
    await engine.close();
  });

  it('a step does not complete until the router serves its table (observe lags behind apply)', async () => {
    const w = new World(doc([{ setWeight: 20 }, { setWeight: 40 }]));
    const engine = w.open();
    await w.until(engine, 'v1 serves', () => engine.status.appliedSeq === engine.status.trafficSeq);
    w.traffic.lag = 3;
    await w.deploy(engine);
    await w.until(engine, '20% asked for', () => w.traffic.applied.some((t) => t.weights.canary === 20));
    assert.notEqual(w.traffic.served?.weights.canary, 20, 'the router has not applied it yet');
    assert.equal(engine.status.step, 0, 'so the step has not completed');
    assert.notEqual(engine.status.appliedSeq, engine.status.trafficSeq);
    await w.until(engine, 'the router catches up', () => w.traffic.served?.weights.canary === 20);
    await w.until(engine, 'the next step', () => engine.status.step === 1);
    assert.ok(
      w.log.some((l) => /does not serve the new traffic yet/.test(l)),
      w.log.join('\n'),
    );
    await engine.close();
  });

  it('a rollback the router accepts but never serves becomes Degraded, and ends once the router serves it', async () => {
    const w = new World(doc([{ setWeight: 20 }, { pause: { duration: '1m' } }]));
    const engine = await w.canaryAt20();
    w.traffic.lag = 1_000_000; // takes every table, serves none of the new ones
    assert.equal((await engine.send({ type: 'abort', reason: 'test' })).rejected, undefined);
    await w.until(engine, 'reported as Degraded', () => engine.status.phase === 'Degraded');
    assert.match(engine.status.message, /accepted the table but does not serve it after \d+s/);
    assert.equal(w.traffic.served?.weights.canary, 20, 'the data plane still serves the canary');
    assert.deepEqual(w.target.removed, [], 'so the canary is not stopped');
    w.traffic.served = w.traffic.applied.at(-1); // the data plane catches up at last
    await w.until(engine, 'the rollback ends', () => engine.status.result !== undefined);
    assert.equal(engine.status.result?.outcome, 'Aborted');
    assert.deepEqual(w.target.removed, ['v2']);
    await engine.close();
  });

  it('a rollback behind a router that serves a round or two late is not Degraded', async () => {
    const w = new World(doc([{ setWeight: 20 }, { pause: { duration: '1m' } }]));
    const engine = await w.canaryAt20();
    w.traffic.lag = 2;
    const phases = new Set<string>();
    assert.equal((await engine.send({ type: 'abort', reason: 'test' })).rejected, undefined);
    await w.until(
      engine,
      'the rollback ends',
      () => (phases.add(engine.status.phase), engine.status.result !== undefined),
    );
    assert.equal(engine.status.result?.outcome, 'Aborted');
    assert.ok(!phases.has('Degraded'), [...phases].join(', '));
    await engine.close();
  });

  it('ends an analysis whose judge throws as Error, said once, instead of failing every round', async () => {
    // A saved run that resumes (its spec has a judge) but cannot be ticked: a state edited by hand.
    const state = {
      template: 'watch',
      spec: { series: {} },
      scope: 'step',
      startedAt: 0,
      through: 0,
      measurements: [],
    };
    const kept = new MemoryRunStore();
    const runs: RunStore = {
      saveRun: (...args) => kept.saveRun(...args),
      runReport: (rollout, id) => kept.runReport(rollout, id),
      run: (rollout, id) => kept.run(rollout, id) ?? { state: state as unknown as AnalysisRunState },
    };
    const world = new World(doc([{ setWeight: 20 }, { analysis: { templates: ['watch'] } }]), memoryStore({ runs }));
    const engine = world.open();
    await world.deploy(engine);
    await world.until(engine, 'the analysis ends', () => engine.status.analyses.some((a) => a.endedAt !== undefined));
    const entry = engine.status.analyses[0]!;
    assert.equal(entry.verdict, 'Error');
    assert.match(entry.reason ?? '', /the analysis could not go on/);
    for (let i = 0; i < 5; i++) await world.round(engine);
    assert.equal(world.log.filter((l) => l.includes('could not go on')).length, 1, world.log.join('\n'));
    assert.ok(!world.log.some((l) => l.includes('a round failed')), 'no round failed');
    await engine.close();
  });
  it('a target that refuses because this process stopped acting is not a failed version: no rollback; it starts once it may', async () => {
    const w = new World(doc([{ setWeight: 20 }, { pause: { duration: '3s' } }, { setWeight: 50 }], ['success-rate']));
    const engine = w.open();
    w.target.failing.set('v2', notLeader());
    await w.deploy(engine);
    for (let i = 0; i < 5; i++) await w.round(engine);
    assert.equal(engine.status.result, undefined, engine.status.result?.reason);
    assert.equal(engine.status.phase, 'CanaryDeploy', 'still waiting for v2 to start');
    assert.ok(!w.log.some((l) => l.includes('did not start')), w.log.join('\n'));
    w.target.failing.delete('v2');
    await w.until(engine, 'promoted', () => engine.status.result !== undefined);
    const { result } = engine.status as { result?: { outcome: string; reason: string } };
    assert.equal(result?.outcome, 'Promoted', result?.reason);
    await engine.close();
  });

  it('a router that refuses because this process stopped acting (wrapped as a refusal) does not degrade a rollback', async () => {
    const w = new World(doc([{ setWeight: 20 }, { pause: { duration: '1m' } }], ['success-rate']));
    const engine = await w.canaryAt20();
    w.traffic.refuse = new TrafficRefused('the router did not take the table', { cause: notLeader() });
    assert.equal((await engine.send({ type: 'abort', reason: 'a person' })).rejected, undefined);
    for (let i = 0; i < 10; i++) await w.round(engine);
    assert.equal(engine.status.phase, 'Rollback', engine.status.message);
    w.traffic.refuse = undefined;
    await w.until(engine, 'rolled back', () => engine.status.result !== undefined);
    assert.equal(engine.status.result?.outcome, 'Aborted');
    await engine.close();
  });

  it('a closed engine turns nothing that arrives after into a transition (a target answering late)', async () => {
    const w = new World(doc([{ setWeight: 20 }, { pause: { duration: '1m' } }], ['success-rate']));
    const engine = await w.canaryAt20();
    await engine.close();
    const before = JSON.stringify(engine.status);
    const t = await engine.send({ type: 'instanceFailed', id: 'v2', reason: 'answered after the engine closed' });
    assert.equal(t.rejected, 'the engine is closed');
    assert.equal(JSON.stringify(engine.status), before);
    const events = (w.store.status as MemoryStatusStore).events.map((e) => e.type);
    assert.ok(!events.includes('instanceFailed'), events.join(','));
  });
});
