/**
 * Webhook gates: the confirmations hold a rollout until their webhook says yes, the
 * checks roll back when it says no, a rollback webhook that says yes rolls back; and the
 * engine's side, asking real HTTP receivers with signed requests.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Gates, type GatePayload } from '../../src/rollout/webhooks.js';
import { webhook } from '../../src/config/schemas/rollout.js';
import type { UntimedEvent } from '../../src/rollout/types.js';
import { Driver, specWith, v2 } from '../helpers/rollout.js';
import { webhookReceiver } from '../helpers/http.js';

const hook = (type: string, name = type) => ({ name, type, url: `http://127.0.0.1:9/${name}` });
const steps = [{ setWeight: 10 }, { pause: { duration: '1m' } }, { setWeight: 50 }, { pause: { duration: '1m' } }];
const yes = (d: Driver, gate: string) =>
  d.send({
    type: 'webhook',
    gate: gate as never,
    step: d.status.gate?.step ?? d.status.step,
    passed: true,
    reason: 'ok',
  });
const no = (d: Driver, gate: string, reason = 'answered 403') =>
  d.send({ type: 'webhook', gate: gate as never, step: d.status.gate?.step ?? d.status.step, passed: false, reason });

describe('webhook gates in the machine', () => {
  it('confirm-rollout holds the canary back until its webhook says yes, however long that takes', () => {
    const d = new Driver(
      specWith({
        strategy: { canary: { steps } },
        webhooks: [hook('confirm-rollout', 'change-window')],
        progressDeadline: '1m',
      }),
    ).ack();
    d.send({ type: 'deploy', release: v2 }).ack();
    assert.equal(d.status.gate?.type, 'confirm-rollout');
    assert.deepEqual(
      d.status.instances.map((i) => i.id),
      ['v1'],
      'v2 is not even started',
    );
    no(d, 'confirm-rollout', 'answered 403: outside the change window');
    assert.equal(d.status.message, 'waiting for the confirm-rollout webhook: answered 403: outside the change window');
    d.advance(3_600_000);
    assert.equal(d.status.phase, 'CanaryDeploy', 'waiting on a person is not a stuck rollout: no progress deadline');
    yes(d, 'confirm-rollout').ack();
    assert.equal(d.status.traffic.weights.canary, 10);
    assert.equal(d.status.gate, undefined);
  });

  it('confirm-traffic-increase asks before each raise of the weight, confirm-promotion before the promotion', () => {
    const d = new Driver(
      specWith({
        strategy: { canary: { steps } },
        webhooks: [hook('confirm-traffic-increase'), hook('confirm-promotion')],
      }),
    ).ack();
    d.send({ type: 'deploy', release: v2 }).ack();
    assert.deepEqual(
      [d.status.gate?.type, d.status.gate?.step, d.status.traffic.weights.canary],
      ['confirm-traffic-increase', 0, 0],
    );
    yes(d, 'confirm-traffic-increase').ack();
    assert.equal(d.status.traffic.weights.canary, 10);
    d.advance(60_000);
    assert.deepEqual([d.status.gate?.step, d.status.traffic.weights.canary], [2, 10]);
    no(d, 'confirm-traffic-increase');
    d.advance(600_000);
    assert.equal(d.status.traffic.weights.canary, 10, 'a no keeps the weight');
    assert.equal(d.status.phase, 'Monitor');
    yes(d, 'confirm-traffic-increase').ack();
    assert.equal(d.status.traffic.weights.canary, 50);
    d.advance(60_000);
    assert.equal(d.status.gate?.type, 'confirm-promotion');
    assert.equal(d.status.stable.version, 'v1');
    d.send({ type: 'promote' });
    assert.match(d.rejected ?? '', /waiting for the confirm-promotion webhook .*promote --full/);
    yes(d, 'confirm-promotion').ack();
    assert.equal(d.status.stable.version, 'v2');
    assert.equal(d.status.result?.outcome, 'Promoted');
  });

  it('a failing pre-rollout or rollout check rolls back; an answer for another gate or step changes nothing', () => {
    const d = new Driver(
      specWith({ strategy: { canary: { steps } }, webhooks: [hook('pre-rollout', 'smoke'), hook('rollout', 'load')] }),
    ).ack();
    d.send({ type: 'deploy', release: v2 }).ack();
    assert.equal(d.status.gate?.type, 'pre-rollout', 'after v2 is ready and before it gets users');
    assert.equal(d.status.traffic.weights.canary, 0);
    yes(d, 'pre-rollout').ack();
    assert.equal(d.status.gate?.type, 'rollout');
    yes(d, 'rollout').ack();
    assert.equal(d.status.traffic.weights.canary, 10);
    d.advance(1000);
    assert.equal(d.status.gate?.type, 'rollout', 'the check runs before every step');
    const before = d.status;
    d.send({ type: 'webhook', gate: 'rollout', step: 0, passed: false, reason: 'stale' });
    assert.deepEqual(d.status.gate, before.gate);
    assert.equal(d.status.phase, before.phase);
    no(d, 'rollout', 'smoke answered 500 (after 3 attempts)');
    assert.equal(d.status.phase, 'Rollback');
    d.ack();
    assert.equal(d.status.result?.reason, 'the rollout check failed: smoke answered 500 (after 3 attempts)');
    assert.equal(d.status.gate, undefined);
  });

  it('a rollback webhook that says yes rolls back; promote --full skips a gate; abort ends the wait', () => {
    const d = new Driver(
      specWith({ strategy: { canary: { steps } }, webhooks: [hook('confirm-traffic-increase'), hook('rollback')] }),
    ).ack();
    d.send({ type: 'deploy', release: v2 }).ack();
    yes(d, 'confirm-traffic-increase').ack();
    d.send({ type: 'webhook', gate: 'rollback', step: 0, passed: true, reason: 'pager answered 2xx' }).ack();
    assert.equal(d.status.result?.outcome, 'RolledBack');
    assert.match(d.status.result!.reason, /rollback webhook asked for it: pager answered 2xx/);
    d.send({ type: 'retry' }).ack();
    assert.equal(d.status.gate?.type, 'confirm-traffic-increase', 'a new rollout asks again');
    d.send({ type: 'promote', full: true }).ack();
    assert.equal(d.status.stable.version, 'v2');
    d.send({ type: 'undo' }).ack();
    assert.equal(d.status.gate?.type, 'confirm-traffic-increase');
    d.send({ type: 'abort' }).ack();
    assert.deepEqual([d.status.phase, d.status.gate, d.status.stable.version], ['Aborted', undefined, 'v2']);
  });

  it('promote --full cannot skip confirm-rollout: the new version was never started', () => {
    const d = new Driver(specWith({ strategy: { canary: { steps } }, webhooks: [hook('confirm-rollout')] })).ack();
    d.send({ type: 'deploy', release: v2 }).ack();
    d.send({ type: 'promote', full: true });
    assert.match(d.rejected ?? '', /v2 has not been started: waiting for the confirm-rollout webhook/);
  });
});

describe('webhook gates, asked by the engine', () => {
  const env = { HOOK_KEY: 'gate-key-42' };
  const status = () => {
    const d = new Driver(specWith({ strategy: { canary: { steps } }, webhooks: [hook('confirm-promotion')] })).ack();
    d.send({ type: 'deploy', release: v2 }).ack();
    return d.status;
  };

  it('posts a signed payload to every webhook of the gate and reports all-2xx as passed, any other answer as why not', async () => {
    const ok = await webhookReceiver();
    const refusing = await webhookReceiver([409, 409]);
    const answers: UntimedEvent[] = [];
    const gates = new Gates(
      'shop',
      [
        webhook.parse({
          name: 'qa',
          type: 'confirm-traffic-increase',
          url: ok.url,
          secretEnv: 'HOOK_KEY',
          metadata: { ticket: 'CHG-7' },
        }),
        webhook.parse({ name: 'cab', type: 'confirm-traffic-increase', url: refusing.url }),
      ],
      (e) => answers.push(e),
      env,
    );
    const s = { ...status(), gate: { type: 'confirm-traffic-increase' as const, step: 2, since: 0, message: '' } };
    gates.poll(s, Date.parse('2026-11-22T10:00:00Z'));
    gates.poll(s, Date.parse('2026-11-22T10:00:00Z'));
    for (let i = 0; i < 100 && answers.length === 0; i++) await sleep(20);
    assert.deepEqual(answers, [
      { type: 'webhook', gate: 'confirm-traffic-increase', step: 2, passed: false, reason: 'cab answered 409' },
    ]);
    assert.equal(ok.got.length, 1, 'one request at a time per gate, and a confirmation is not retried within a round');
    const { headers, body } = ok.got[0]!;
    assert.equal(
      headers['x-kanari-signature'],
      `sha256=${createHmac('sha256', env.HOOK_KEY).update(body).digest('hex')}`,
    );
    assert.equal(headers['x-kanari-event'], 'confirm-traffic-increase');
    const p = JSON.parse(body) as GatePayload;
    assert.deepEqual(
      { ...p, at: undefined },
      {
        rollout: 'shop',
        gate: 'confirm-traffic-increase',
        webhook: 'qa',
        phase: s.phase,
        revision: 1,
        stable: 'v1',
        canary: 'v2',
        step: 3,
        weights: s.traffic.weights,
        metadata: { ticket: 'CHG-7' },
        at: undefined,
      },
    );
    gates.poll(s, Date.now());
    for (let i = 0; i < 100 && answers.length < 2; i++) await sleep(20);
    assert.deepEqual(answers[1], {
      type: 'webhook',
      gate: 'confirm-traffic-increase',
      step: 2,
      passed: false,
      reason: 'cab answered 409',
    });
    gates.poll(s, Date.now());
    for (let i = 0; i < 100 && answers.length < 3; i++) await sleep(20);
    assert.deepEqual(answers[2], {
      type: 'webhook',
      gate: 'confirm-traffic-increase',
      step: 2,
      passed: true,
      reason: 'qa, cab answered 2xx',
    });
    await ok.close();
    await refusing.close();
  });

  it('retries a check before it counts as failed, and asks rollback webhooks only while a rollout is in flight', async () => {
    const flaky = await webhookReceiver([503]);
    const pager = await webhookReceiver([404]);
    const answers: UntimedEvent[] = [];
    const gates = new Gates(
      'shop',
      [
        webhook.parse({ name: 'smoke', type: 'rollout', url: flaky.url, retries: 1 }),
        webhook.parse({ name: 'pager', type: 'rollback', url: pager.url }),
      ],
      (e) => answers.push(e),
      env,
    );
    const s = { ...status(), gate: { type: 'rollout' as const, step: 1, since: 0, message: '' } };
    gates.poll(s, Date.now());
    for (let i = 0; i < 200 && answers.length === 0; i++) await sleep(20);
    assert.deepEqual(
      answers,
      [{ type: 'webhook', gate: 'rollout', step: 1, passed: true, reason: 'smoke answered 2xx' }],
      'the 503 was retried; the pager said 404, which is "no"',
    );
    assert.equal(flaky.got.length, 2);
    gates.poll(s, Date.now());
    for (let i = 0; i < 100 && answers.length < 3; i++) await sleep(20);
    assert.deepEqual(
      answers
        .slice(1)
        .map((a) => (a as { gate: string }).gate)
        .sort(),
      ['rollback', 'rollout'],
    );
    const pagerCalls = pager.got.length;
    gates.poll({ ...s, phase: 'StableOnly' }, Date.now());
    await sleep(100);
    assert.equal(pager.got.length, pagerCalls);
    await flaky.close();
    await pager.close();
  });
});
