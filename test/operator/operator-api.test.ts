/**
 * The API as the operator serves it, on the test API server with a real operator leading
 * in this process: two API listeners (as two replicas behind one Service would be) read
 * the Rollout resources, take commands through the command annotation (answered by the
 * leader), share tokens through the Secret, check roles, and do not serve what only a
 * standalone controller can (apply, events, delete, shutdown), nor list it in OpenAPI; every
 * exchange is checked against that document.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { ClusterRollouts } from '../../src/cli/operator-api.js';
import type { Operator } from '../../src/operator/operator.js';
import { clusterApiRoutes, createClusterApiServer } from '../../src/server/cluster-api.js';
import { ROLES, Tokens } from '../../src/server/tokens.js';
import { KubernetesTokenRows } from '../../src/store/kubernetes-tokens.js';
import { request } from '../helpers/http.js';
import { conformance, type Exchange } from '../helpers/openapi-conformance.js';
import {
  createApp,
  replicasRollout,
  ROLLOUT_CRD,
  setImage,
  startCluster,
  startOperator,
  type TestCluster,
} from '../helpers/kube/cluster.js';

let cluster: TestCluster;
let operator: Operator;
const servers: http.Server[] = [];
const ports: number[] = [];
const log: string[] = [];
const token: Record<string, string> = {};
/** Every exchange is checked against the listener's own OpenAPI document. */
let conforms: (e: Exchange) => void;

function replica(): { server: http.Server; tokens: Tokens } {
  const tokens = new Tokens(
    new KubernetesTokenRows({ client: cluster.client, namespace: 'default', log: () => {}, maxAgeMs: 1000 }),
  );
  const rollouts = new ClusterRollouts({ client: cluster.client, home: 'default', origin: 'the test API server' });
  const server = createClusterApiServer({ rollouts, tokens, log: (line) => log.push(line) }) as http.Server;
  return { server, tokens };
}

before(async () => {
  cluster = await startCluster({ deploymentReadyDelayMs: 100 });
  await cluster.client.create(ROLLOUT_CRD);
  await createApp(cluster.client, 'web', 2, 'web:1');
  await cluster.client.create(replicasRollout('web', [{ setWeight: 50 }, { pause: {} }, { setWeight: 100 }]));
  await cluster.client.create(replicasRollout('idle', [{ pause: {} }], { name: 'idle' }));
  operator = startOperator(cluster.client, log);
  for (let i = 0; i < 2; i++) {
    const { server, tokens } = replica();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    ports.push((server.address() as AddressInfo).port);
    if (i === 0)
      conforms = conformance(
        JSON.parse((await request(ports[0]!, { path: '/api/openapi.json' })).body),
        clusterApiRoutes({} as never, {} as never),
      );
    if (i === 0) for (const role of ROLES) token[role] = (await tokens.create({ name: `${role}-bot`, role })).token;
  }
});

after(async () => {
  for (const s of servers) s.close();
  await operator?.stop();
  await cluster?.close();
});

const state = () => cluster.api.get('kanari.dev/v1alpha1', 'Rollout', 'default', 'web')?.status?.state;

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`${what} within ${ms} ms; now: ${state()?.message}\n${log.join('\n')}`);
    await sleep(50);
  }
}

/** A request to replica `i` as `who` (a role's token, or a header of its own). */
async function api(i: number, method: string, path: string, who?: string, body?: unknown) {
  const headers: Record<string, string> = {};
  if (who !== undefined) headers.authorization = token[who] ? `Bearer ${token[who]}` : who;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const sent = body === undefined ? undefined : JSON.stringify(body);
  const r = await request(ports[i]!, { method, path, headers, ...(sent === undefined ? {} : { body: sent }) });
  conforms({ method, path, body: sent, reply: r });
  return { status: r.status, json: r.body ? JSON.parse(r.body) : undefined, headers: r.headers };
}

describe('the operator API', () => {
  it('lists and shows the Rollouts the operator runs, by name or namespace/name, on either replica', async () => {
    await until('stable serves', () => state()?.phase === 'StableOnly' && state()?.ready?.length > 0);
    const list = await api(1, 'GET', '/api/v1/rollouts', 'viewer');
    assert.equal(list.status, 200, JSON.stringify(list.json));
    const web = list.json.rollouts.find((r: { name: string }) => r.name === 'web');
    assert.deepEqual([web.phase, web.namespace, web.steps.length], ['StableOnly', 'default', 3]);
    const names = (r: { json: { rollouts: { name: string }[] } }) => r.json.rollouts.map((x) => x.name).sort();
    assert.deepEqual(names(await api(0, 'GET', '/api/v1/rollouts?namespace=default', 'viewer')), names(list));
    assert.deepEqual(names(await api(0, 'GET', '/api/v1/rollouts?namespace=elsewhere', 'viewer')), []);
    assert.equal((await api(0, 'GET', '/api/v1/rollouts?namespace=No', 'viewer')).status, 400);
    for (const path of ['/api/v1/rollouts/web', '/api/v1/rollouts/default%2Fweb']) {
      const one = await api(0, 'GET', path, 'viewer');
      assert.equal(one.status, 200, path);
      assert.equal(one.json.name, 'web');
    }
    assert.equal((await api(0, 'GET', '/api/v1/rollouts/nope', 'viewer')).status, 404);
    for (const bad of ['Web', 'a%2Fb%2Fc', '-x', 'x'.repeat(300)]) {
      const r = await api(0, 'GET', `/api/v1/rollouts/${bad}`, 'viewer');
      assert.equal(r.status, 400, bad);
      assert.match(r.json.detail, /^a rollout is named NAME or NAMESPACE\/NAME/);
    }
  });

  it('carries a command out through the annotation from a replica that does not lead, as the principal', async () => {
    await setImage(cluster.client, 'web', 'web:2');
    await until('paused at step 2', () => state()?.phase === 'Paused' && state()?.step === 1);
    const denied = await api(1, 'POST', '/api/v1/rollouts/web/promote', 'viewer');
    assert.equal(denied.status, 403);
    const r = await api(1, 'POST', '/api/v1/rollouts/web/promote', 'operator', { reason: 'looks fine' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.ok(state()!.step >= 2, `step ${state()!.step}`);
    assert.ok(
      log.some((line) => /default\/web: promote from operator-bot: done/.test(line)),
      log.join('\n'),
    );
    const refused = await api(0, 'POST', '/api/v1/rollouts/web/weight', 'operator', { weight: 30 });
    assert.equal(refused.status, 409, JSON.stringify(refused.json));
    assert.match(refused.json.detail, /^set-weight refused: /);
  });

  it('answers 409 for a Rollout it has not taken on, and 400 for a body that is not one', async () => {
    await cluster.client.create(replicasRollout('ghost', [{ pause: {} }], { name: 'ghost' }));
    const ghost = await api(0, 'POST', '/api/v1/rollouts/ghost/pause', 'operator');
    assert.equal(ghost.status, 409, JSON.stringify(ghost.json));
    assert.match(ghost.json.detail, /Rollout default\/ghost is not running/);
    assert.equal((await api(0, 'GET', '/api/v1/rollouts/ghost', 'viewer')).status, 409);
    const bad = await api(0, 'POST', '/api/v1/rollouts/web/weight', 'operator', { weight: 'lots' });
    assert.equal(bad.status, 400);
    const huge = await request(ports[0]!, {
      method: 'POST',
      path: '/api/v1/rollouts/web/pause',
      headers: { authorization: `Bearer ${token.operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'x'.repeat(100_000) }),
    });
    assert.equal(huge.status, 413);
  });

  it('makes and revokes tokens on one replica that the other takes and refuses', async () => {
    assert.equal((await api(0, 'POST', '/api/v1/tokens', 'operator', { name: 'ci', role: 'viewer' })).status, 403);
    const made = await api(0, 'POST', '/api/v1/tokens', 'admin', { name: 'ci', role: 'viewer' });
    assert.equal(made.status, 201);
    const who = await api(1, 'GET', '/api/v1/whoami', `Bearer ${made.json.token}`);
    assert.deepEqual([who.status, who.json.name, who.json.role], [200, 'ci', 'viewer']);
    assert.equal((await api(1, 'POST', '/api/v1/tokens/ci/revoke', 'admin')).status, 200);
    // Revoked on replica 1: replica 0 refuses it once its read is as old as its bound (1 s here).
    const deadline = Date.now() + 15_000;
    let status = 200;
    while (status !== 401 && Date.now() < deadline) {
      status = (await api(0, 'GET', '/api/v1/whoami', `Bearer ${made.json.token}`)).status;
      if (status !== 401) await sleep(250);
    }
    assert.equal(status, 401);
  });

  it('serves neither what only a standalone controller does nor lists it, and 401s before anything', async () => {
    assert.equal((await api(0, 'GET', '/api/v1/rollouts')).status, 401);
    assert.equal((await api(0, 'GET', '/api/v1/rollouts', `Bearer ${'x'.repeat(10_000)}`)).status, 401);
    assert.equal((await api(0, 'POST', '/api/v1/apply', 'admin', { file: 'a', text: '' })).status, 404);
    assert.equal((await api(0, 'GET', '/api/v1/events', 'admin')).status, 404);
    assert.equal((await api(0, 'POST', '/api/v1/shutdown', 'admin')).status, 404);
    assert.equal((await api(0, 'DELETE', '/api/v1/rollouts/web', 'admin')).status, 405);
    const doc = await api(0, 'GET', '/api/openapi.json');
    assert.equal(doc.status, 200);
    const paths = Object.keys(doc.json.paths);
    for (const absent of ['/api/v1/apply', '/api/v1/events', '/api/v1/shutdown', '/metrics'])
      assert.ok(!paths.includes(absent), absent);
    assert.ok(!Object.keys(doc.json.paths['/api/v1/rollouts/{name}']).includes('delete'));
    assert.ok(paths.includes('/api/v1/rollouts/{name}/weight') && paths.includes('/api/v1/tokens'));
  });
});
