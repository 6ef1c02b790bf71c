import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { notification } from '../../src/config/schemas/rollout.js';
import { Notifier, type NotificationPayload } from '../../src/rollout/notify.js';
import { webhookReceiver } from '../helpers/http.js';

const payload: NotificationPayload = {
  rollout: 'shop',
  moment: 'rollback',
  message: 'rolling back v2: errors',
  phase: 'Rollback',
  revision: 3,
  stable: 'v1',
  canary: 'v2',
  weights: { canary: 0, baseline: 0 },
  at: '2026-11-22T00:00:00.000Z',
};

describe('notifications', () => {
  it('signs the body with HMAC-SHA256 so the receiver can check it, and sends only the moments asked for', async () => {
    const r = await webhookReceiver();
    const spec = notification.parse({ url: r.url, on: ['rollback'], secretEnv: 'HOOK_KEY' });
    const failures: string[] = [];
    const n = new Notifier([spec], (_, why) => failures.push(why), { HOOK_KEY: 'k3y-0123456789' });
    n.send({ ...payload, moment: 'rollout' });
    n.send(payload);
    await n.drain();
    await r.close();
    assert.equal(r.got.length, 1, 'the rollout moment was not asked for');
    const { headers, body } = r.got[0]!;
    assert.equal(
      headers['x-kanari-signature'],
      `sha256=${createHmac('sha256', 'k3y-0123456789').update(body).digest('hex')}`,
    );
    assert.equal(headers['x-kanari-event'], 'rollback');
    assert.deepEqual(JSON.parse(body), payload);
    assert.deepEqual(failures, []);
  });

  it('retries a failed delivery with the same delivery id, and reports one that never arrives', async () => {
    const r = await webhookReceiver([500, 503]);
    const n = new Notifier([notification.parse({ url: r.url, retries: 2 })], () =>
      assert.fail('it arrived on the third attempt'),
    );
    n.send(payload);
    await n.drain();
    assert.equal(r.got.length, 3);
    assert.equal(new Set(r.got.map((g) => g.headers['x-kanari-delivery'])).size, 1);

    await r.close();

    const failures: string[] = [];
    const always = await webhookReceiver([500, 500]);
    const failing = new Notifier([notification.parse({ url: always.url, retries: 1 })], (url, why) =>
      failures.push(`${url}: ${why}`),
    );
    failing.send(payload);
    await failing.drain();
    await always.close();
    assert.deepEqual(failures, [`${always.url}: answered 500 (after 2 attempts)`]);
  });

  it('quotes a receiver that answers without end by the start of its answer, and does not read the rest', async () => {
    const server = http.createServer((_, res) => {
      res.writeHead(500);
      const chunk = Buffer.alloc(64 * 1024, 0x78);
      const pump = () => {
        while (res.write(chunk));
      };
      res.on('drain', pump);
      pump();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const failures: string[] = [];
    const n = new Notifier([notification.parse({ url, timeout: '20s', retries: 0 })], (_, why) => failures.push(why));
    n.send(payload);
    await n.drain();
    server.closeAllConnections();
    server.close();
    assert.deepEqual(failures, ['answered 500: (the answer is larger than 64 KiB)']);
  });

  it('formats a Slack incoming-webhook message, and refuses to send unsigned when the key is missing', async () => {
    const r = await webhookReceiver();
    const failures: string[] = [];
    const n = new Notifier(
      [
        notification.parse({ url: r.url, format: 'slack' }),
        notification.parse({ url: r.url, secretEnv: 'MISSING_KEY' }),
      ],
      (_, why) => failures.push(why),
      {},
    );
    n.send(payload);
    await n.drain();
    await r.close();
    assert.equal(r.got.length, 1);
    const slack = JSON.parse(r.got[0]!.body) as { text: string; blocks: unknown[] };
    assert.equal(slack.text, ':rotating_light: *shop* (v1 → v2): rolling back v2: errors');
    assert.equal(slack.blocks.length, 2);
    assert.deepEqual(failures, ["not sent: the signing key MISSING_KEY is not set in the controller's environment"]);
  });
});
