/**
 * set-weight and delete through the API, on a controller in process with a real router and
 * static upstreams: a hold survives a controller restart and shows in history; a delete is
 * refused in flight, forced back to stable, and finished by the next controller when the
 * last one stopped midway. Every call is checked against the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { main } from '../../src/cli/main.js';
import { createApiServer } from '../../src/server/api.js';
import { Controller } from '../../src/server/controller.js';
import type { RolloutView } from '../../src/server/view.js';
import { listenPort } from '../helpers/controller.js';
import { request, type Reply } from '../helpers/http.js';
import { servedConformance, type Exchange } from '../helpers/openapi-conformance.js';

const TOKEN = 'weight-delete-token';
const dir = mkdtempSync(join(tmpdir(), 'kanari-weight-'));
const upstreams: http.Server[] = [];
let controller: Controller;
let server: http.Server | undefined;
let port: number;
let conforms: (e: Exchange) => void;

async function upstream(name: string): Promise<number> {
  const s = http.createServer((_, res) => res.end(name));
  upstreams.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return (s.address() as AddressInfo).port;
}

/** A controller on `dir` (again), serving the API on a new port. */
async function open(): Promise<void> {
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server!.close(resolve));
    await controller.close();
  }
  controller = new Controller(dir);
  controller.start();
  server = createApiServer(controller, TOKEN, () => {}, { log: () => {} }) as http.Server;
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
}

before(async () => {
  await open();
  conforms = await servedConformance(port);
});
after(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await controller.close({ everything: true });
  for (const s of upstreams) s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown, type = 'application/json'): Promise<Reply> {
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const reply = await request(port, {
    method,
    path,
    headers: { authorization: `Bearer ${TOKEN}`, ...(text === undefined ? {} : { 'content-type': type }) },
    ...(text === undefined ? {} : { body: text }),
  });
  conforms({ method, path, body: text, reply });
  return reply;
}

const json = <T>(r: Reply, status = 200): T => {
  assert.equal(r.status, status, r.body);
  return JSON.parse(r.body) as T;
};
const view = async (name: string) => json<RolloutView>(await call('GET', `/api/v1/rollouts/${name}`));

async function until(name: string, ok: (v: RolloutView) => boolean, what: string): Promise<RolloutView> {
  for (let i = 0; i < 300; i++) {
    const v = await view(name);
    if (ok(v)) return v;
    await sleep(100);
  }
  assert.fail(`${name} never reached ${what}: ${JSON.stringify(await view(name))}`);
}

async function applied(name: string, listen: number): Promise<void> {
  const [v1, v2] = [await upstream('v1'), await upstream('v2')];
  const file = join(dir, `${name}.yaml`);
  const text = `apiVersion: kanari.dev/v1alpha1
kind: Rollout
metadata: { name: ${name} }
spec:
  listen: 127.0.0.1:${listen}
  stable: { version: v1, upstreams: ["http://127.0.0.1:${v1}"] }
  canary: { upstreams: ["http://127.0.0.1:${v2}"] }
  strategy: { canary: { steps: [{ setWeight: 10 }, { pause: {} }] } }
`;
  json(await call('POST', '/api/v1/apply', { file, text }));
}

/** The CLI in process, against this controller; what it printed, both streams. */
async function kanari(...argv: string[]): Promise<{ code: number; out: string }> {
  Object.assign(process.env, { KANARI_URL: `http://127.0.0.1:${port}`, KANARI_TOKEN: TOKEN });
  const lines: string[] = [];
  const { log, error } = console;
  console.log = console.error = (...a: unknown[]) => void lines.push(a.join(' '));
  try {
    return { code: await main(argv), out: lines.join('\n') };
  } finally {
    Object.assign(console, { log, error });
  }
}

/** The problem's detail, once its status is the one expected. */
const refused = (r: Reply, status: number) => String(json<{ detail: string }>(r, status).detail);

describe('set-weight and delete over the API', () => {
  it('holds a rollout at a weight, refuses what cannot be held, and keeps the hold across a restart', async () => {
    await applied('shop', await listenPort());
    assert.match(refused(await call('POST', '/api/v1/rollouts/shop/weight', { weight: 20 }), 409), /no rollout is in/);
    json(await call('POST', '/api/v1/rollouts/shop/deploy', { version: 'v2' }));
    await until('shop', (v) => v.paused?.reason === 'step', 'its pause step');

    for (const [body, reason] of [
      [{ weight: 150 }, /weight: must be between 0 and 100/],
      [{ weight: 12.345 }, /multiple of 0.01/],
      [{ weight: '30' }, /weight: .*number/],
      [{}, /weight: .*number/],
      [{ weight: 30, extra: 1 }, /Unrecognized key/],
      ['{', /not JSON/],
    ] as const)
      assert.match(refused(await call('POST', '/api/v1/rollouts/shop/weight', body), 400), reason);
    assert.equal((await call('POST', '/api/v1/rollouts/shop/weight', '{"weight":30}', 'text/plain')).status, 415);
    assert.equal((await call('POST', '/api/v1/rollouts/ghost/weight', { weight: 30 })).status, 404);

    const held = json<RolloutView>(
      await call('POST', '/api/v1/rollouts/shop/weight', { weight: 30, reason: 'watching p99' }),
    );
    assert.equal(held.paused?.held, 30);
    assert.equal(held.weights.canary, 30);
    await open();
    const again = await view('shop');
    assert.equal(again.phase, 'Paused');
    assert.equal(again.paused?.held, 30, 'the hold is saved, and a restarted controller keeps it');
    assert.equal(again.weights.canary, 30);
    const { events } = json<{ events: { type: string; data: { weight?: number } }[] }>(
      await call('GET', '/api/v1/rollouts/shop/history'),
    );
    assert.ok(events.some((e) => e.type === 'setWeight' && e.data.weight === 30));
    assert.equal((await call('GET', '/api/v1/rollouts/shop/history?limit=0')).status, 400);

    assert.deepEqual(await kanari('set-weight', 'shop', '25%', '--reason', 'calmer'), {
      code: 0,
      out: 'shop: Paused — held at 25% by hand: calmer; `kanari resume` goes back to step 2 of the plan',
    });
    const lots = await kanari('set-weight', 'shop', 'lots');
    assert.equal(lots.code, 2);
    assert.match(lots.out, /^kanari: set-weight: PERCENT must be a number from 0 to 100 \(got "lots"\)/);
    assert.match((await kanari('set-weight', 'shop', '101')).out, /must be between 0 and 100/);
  });

  it('refuses to delete a rollout in flight, deletes it with force once users are back on stable, then 404', async () => {
    const users = (await view('shop')).listen.split(':')[1]!;
    assert.match(refused(await call('DELETE', '/api/v1/rollouts/shop'), 409), /delete --force/);
    const cli = await kanari('delete', 'shop');
    assert.equal(cli.code, 1);
    assert.match(cli.out, /kanari: rollout shop is in phase Paused \(v2 has 25% of users\)/);
    assert.match(refused(await call('DELETE', '/api/v1/rollouts/shop?force=yes'), 400), /force/);
    // While the forced delete waits for the rollback (which drains for 2 s), the rollout takes no command.
    const [gone, meanwhile] = await Promise.all([
      call('DELETE', '/api/v1/rollouts/shop?force=true'),
      sleep(200).then(() => call('POST', '/api/v1/rollouts/shop/retry')),
    ]);
    assert.deepEqual(json(gone), { name: 'shop', deleted: true });
    assert.equal(refused(meanwhile, 409), 'rollout shop is being deleted');
    assert.equal((await call('GET', '/api/v1/rollouts/shop')).status, 404);
    assert.equal((await call('GET', '/api/v1/rollouts/shop/events')).status, 404, 'nor its event stream');
    assert.equal((await call('DELETE', '/api/v1/rollouts/shop')).status, 404, 'a second delete finds nothing');
    assert.equal((await kanari('delete', 'shop', '--force')).code, 4);
    assert.equal(controller.store.rollout('shop'), undefined);
    assert.deepEqual(
      controller.store
        .events('shop')
        .map((e) => e.type)
        .slice(-1),
      ['deleted'],
      'the event log stays, ended by the delete',
    );
    assert.equal(await refusesConnections(Number(users)), true, "the rollout's listener is gone from the router");
  });

  it('finishes a delete the last controller began', async () => {
    await applied('cart', await listenPort());
    await until('cart', (v) => v.router?.serving === true, 'a serving router');
    controller.store.setRecord('cart', 'deleting', { at: Date.now() });
    await open();
    for (let i = 0; i < 100 && controller.names().includes('cart'); i++) await sleep(100);
    assert.deepEqual(await kanari('delete', 'cart'), {
      code: 4,
      out: 'kanari: no rollout named cart; apply one with kanari apply -f FILE',
    });
    assert.deepEqual(controller.names(), []);
    assert.equal((await call('GET', '/api/v1/rollouts/cart')).status, 404);
    assert.equal(
      controller.store.events('cart', { after: controller.store.deletedAt('cart') }).length,
      0,
      'a rollout applied again under the name starts its history afresh',
    );
  });

  // The instances are stopped and the engine closed by then: a deploy it took would be saved and never acted on.
  it('takes no command for a rollout whose delete failed midway, and a second delete finishes it', async () => {
    await applied('mug', await listenPort());
    await until('mug', (v) => v.router?.serving === true, 'a serving router');
    const store = controller.store;
    const deleteRollout = store.deleteRollout.bind(store);
    store.deleteRollout = () => {
      store.deleteRollout = deleteRollout;
      throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
    };
    assert.equal((await call('DELETE', '/api/v1/rollouts/mug')).status, 500);
    assert.match(refused(await call('POST', '/api/v1/rollouts/mug/deploy', { version: 'v2' }), 409), /being deleted/);
    json(await call('DELETE', '/api/v1/rollouts/mug'));
    assert.equal((await call('GET', '/api/v1/rollouts/mug')).status, 404);
  });
});

function refusesConnections(p: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(p, '127.0.0.1');
    socket.on('connect', () => (socket.destroy(), resolve(false)));
    socket.on('error', () => resolve(true));
  });
}
