/**
 * The dashboard and browser sessions on the operator's API, on the test API server with a
 * real operator leading in this process and two API listeners beside it (two replicas
 * behind one Service): a session made on one is honoured by the other (reads, and commands
 * with the session's CSRF token), signing out or revoking its token on one ends it on both
 * within the cache's bound, sessions are capped, and the Secret they live in stays under
 * its limit whatever was written into it. A row nobody could have made here signs nobody
 * in; a Kubernetes token does not sign in at all. The dashboard's files come with its CSP.
 * Every exchange is checked against the listener's own OpenAPI document.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { ClusterRollouts } from '../../src/cli/operator-api.js';
import type { Operator } from '../../src/operator/operator.js';
import { clusterApiRoutes, createClusterApiServer } from '../../src/server/cluster-api.js';
import { ClusterLogs } from '../../src/server/cluster-log.js';
import { DASHBOARD_HEADERS } from '../../src/server/dashboard-files.js';
import { Sessions } from '../../src/server/sessions.js';
import { ROLES, Tokens } from '../../src/server/tokens.js';
import { KubernetesSessionRows, SESSIONS_SECRET } from '../../src/store/kubernetes-sessions.js';
import { KubernetesTokenRows } from '../../src/store/kubernetes-tokens.js';
import { request, type Reply } from '../helpers/http.js';
import { conformance, type Exchange } from '../helpers/openapi-conformance.js';
import { SseReader } from '../helpers/sse.js';
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
const dashboardDir = mkdtempSync(join(tmpdir(), 'kanari-dashboard-'));
/** What the replicas' caches are bounded by here (5 s in use). */
const MAX_AGE_MS = 1000;
/** Sessions one replica keeps at most here (1000 in use), so the cap is reached in a few sign-ins. */
const MAX_ROWS = 12;
let conforms: (e: Exchange) => void;

/** `recheckMs` of each replica's streams: the first's only its watchers end (an hour), the second's as in use. */
const RECHECK = [3_600_000, undefined];

function replica(i: number): http.Server {
  const o = { client: cluster.client, namespace: 'default', log: (line: string) => log.push(line) };
  const tokenRows = new KubernetesTokenRows({ ...o, maxAgeMs: MAX_AGE_MS });
  const tokens = new Tokens(tokenRows);
  const sessions = new Sessions(
    new KubernetesSessionRows({ ...o, maxAgeMs: MAX_AGE_MS, maxRows: MAX_ROWS }),
    tokenRows,
  );
  const rollouts = new ClusterRollouts({ client: cluster.client, home: 'default', origin: 'the test API server' });
  const logs = new ClusterLogs({
    client: cluster.client,
    locate: (ref) => rollouts.locate(ref),
    cacheMs: 100,
    pollMs: 100,
    ...(RECHECK[i] === undefined ? {} : { recheckMs: RECHECK[i] }),
  });
  return createClusterApiServer({
    rollouts,
    tokens,
    logs,
    browser: { sessions, dashboardDir },
    log: (line) => log.push(line),
  }) as http.Server;
}

before(async () => {
  mkdirSync(join(dashboardDir, 'assets'));
  writeFileSync(join(dashboardDir, 'index.html'), '<!doctype html><title>kanari</title>');
  writeFileSync(join(dashboardDir, 'assets', 'main.js'), 'export {};');
  cluster = await startCluster({ deploymentReadyDelayMs: 100 });
  await cluster.client.create(ROLLOUT_CRD);
  await createApp(cluster.client, 'web', 2, 'web:1');
  await cluster.client.create(replicasRollout('web', [{ setWeight: 50 }, { pause: {} }, { setWeight: 100 }]));
  operator = startOperator(cluster.client, log);
  for (let i = 0; i < 2; i++) {
    const server = replica(i);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    ports.push((server.address() as AddressInfo).port);
  }
  conforms = conformance(
    JSON.parse((await request(ports[0]!, { path: '/api/openapi.json' })).body),
    clusterApiRoutes({} as never, {} as never, { browser: {} as never }),
  );
  const admin = new Tokens(new KubernetesTokenRows({ client: cluster.client, namespace: 'default', log: () => {} }));
  for (const role of ROLES) token[role] = (await admin.create({ name: `${role}-bot`, role })).token;
});

after(async () => {
  for (const s of servers) s.close();
  await operator?.stop();
  await cluster?.close();
  rmSync(dashboardDir, { recursive: true, force: true });
});

const state = () => cluster.api.get('kanari.dev/v1alpha1', 'Rollout', 'default', 'web')?.status?.state;

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) assert.fail(`${what} within ${ms} ms\n${log.join('\n')}`);
    await sleep(100);
  }
}

async function call(
  i: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: unknown,
): Promise<Reply> {
  const sent = body === undefined ? undefined : JSON.stringify(body);
  const reply = await request(ports[i]!, {
    method,
    path,
    headers: sent === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(sent === undefined ? {} : { body: sent }),
  });
  conforms({ method, path, body: sent, reply });
  return reply;
}

/** A browser signed in with `t` on replica `i`: its cookie, and its CSRF token as read on that replica. */
async function signIn(i: number, t: string): Promise<{ cookie: string; csrf: string }> {
  const r = await call(i, 'POST', '/auth/sign-in', {}, { token: t });
  assert.equal(r.status, 204, r.body);
  const set = r.headers['set-cookie']?.find((c) => c.startsWith('kanari_session='));
  assert.ok(set, JSON.stringify(r.headers));
  assert.match(set, /; HttpOnly; SameSite=Lax; Path=\/; Max-Age=43200$/);
  const cookie = set.split(';')[0]!;
  const s = await call(i, 'GET', '/auth/session', { cookie });
  assert.equal(s.status, 200, s.body);
  return { cookie, csrf: (JSON.parse(s.body) as { csrf: string }).csrf };
}

/** The status replica `i` answers `cookie` with on a read, once it is `status` (a replica's cache is bounded, not instant). */
async function untilStatus(i: number, cookie: string, status: number): Promise<void> {
  let last = 0;
  await until(`replica ${i} answers ${status} (last ${last})`, async () => {
    last = (await call(i, 'GET', '/api/v1/whoami', { cookie })).status;
    return last === status;
  });
}

const sessionsSecret = () => cluster.api.get('v1', 'Secret', 'default', SESSIONS_SECRET);
const keysOf = () => Object.keys((sessionsSecret()?.data ?? {}) as Record<string, string>);

/** A row as a replica writes it, with what `change` says instead. */
function row(change: Record<string, unknown> = {}): string {
  const at = Date.now();
  return Buffer.from(
    JSON.stringify({
      actor: 'mallory',
      role: 'admin',
      via: 'oidc',
      csrf: randomBytes(32).toString('base64url'),
      createdAt: at,
      expiresAt: at + 3_600_000,
      ...change,
    }),
  ).toString('base64');
}

/** Puts `data` into the sessions Secret by hand (what anyone who may update it could do). */
async function writeSessions(data: Record<string, string>): Promise<void> {
  const current = sessionsSecret();
  const secret = current
    ? { ...current, data }
    : { apiVersion: 'v1', kind: 'Secret', metadata: { name: SESSIONS_SECRET, namespace: 'default' }, data };
  if (current) await cluster.client.replace(secret as never);
  else await cluster.client.create(secret as never);
}

describe('browser sessions on the operator', () => {
  it('serves the dashboard files as kanari up does, with its CSP, before any sign-in', async () => {
    for (const path of ['/', '/rollouts/default/web', '/assets/main.js']) {
      const r = await request(ports[1]!, { path, headers: { accept: 'text/html' } });
      assert.equal(r.status, 200, path);
      for (const [name, value] of Object.entries(DASHBOARD_HEADERS)) assert.equal(r.headers[name], value, name);
    }
    assert.equal((await request(ports[0]!, { path: '/assets/%2e%2e/x.js' })).status, 400);
    const config = await call(0, 'GET', '/auth/config');
    assert.deepEqual([config.status, JSON.parse(config.body)], [200, { oidc: null }]);
    // No sign-in link on a cluster: kanari up prints them, an operator has no terminal anyone reads.
    const link = await call(0, 'GET', '/sign-in?code=x', { authorization: `Bearer ${token.viewer}` });
    assert.equal(link.status, 404, link.body);
  });

  it('takes a session made on one replica on the other, for reads and for commands with its CSRF token', async () => {
    await until('stable serves', () => state()?.phase === 'StableOnly' && state()?.ready?.length > 0);
    await setImage(cluster.client, 'web', 'web:2');
    await until('paused at step 2', () => state()?.phase === 'Paused' && state()?.step === 1);
    const { cookie, csrf } = await signIn(0, token.operator!);
    const session = await call(1, 'GET', '/auth/session', { cookie });
    assert.equal(session.status, 200, session.body);
    assert.deepEqual(
      [JSON.parse(session.body).actor, JSON.parse(session.body).role, JSON.parse(session.body).csrf],
      ['operator-bot', 'operator', csrf],
    );
    const list = await call(1, 'GET', '/api/v1/rollouts', { cookie });
    assert.equal(list.status, 200, list.body);
    assert.equal(list.headers['cache-control'], 'no-store');
    assert.deepEqual(
      JSON.parse(list.body).rollouts.map((r: { namespace: string; name: string }) => `${r.namespace}/${r.name}`),
      ['default/web'],
    );
    const path = '/api/v1/rollouts/default%2Fweb/promote';
    const missing = await call(1, 'POST', path, { cookie }, {});
    assert.equal(missing.status, 403, missing.body);
    assert.match(JSON.parse(missing.body).detail, /CSRF/);
    const wrong = await call(1, 'POST', path, { cookie, 'x-csrf-token': 'x'.repeat(43) }, {});
    assert.equal(wrong.status, 403);
    assert.equal(state()!.step, 1, 'refused commands did nothing');
    const promoted = await call(1, 'POST', path, { cookie, 'x-csrf-token': csrf }, { reason: 'from the dashboard' });
    assert.equal(promoted.status, 200, promoted.body);
    assert.ok(state()!.step >= 2, `step ${state()!.step}`);
    assert.ok(
      log.some((line) => /default\/web: promote from operator-bot: done/.test(line)),
      log.join('\n'),
    );
  });

  it('honours a session on a replica started since, and ends one signed out on one replica on the other within the cache bound', async () => {
    const { cookie, csrf } = await signIn(0, token.viewer!);
    assert.equal((await call(1, 'GET', '/api/v1/whoami', { cookie })).status, 200);
    // A replica started since (a restart, a new pod) knows it from the Secret alone.
    const fresh = replica(0);
    await new Promise<void>((resolve) => fresh.listen(0, '127.0.0.1', resolve));
    try {
      const r = await request((fresh.address() as AddressInfo).port, { path: '/api/v1/whoami', headers: { cookie } });
      assert.equal(r.status, 200, r.body);
    } finally {
      fresh.close();
    }
    assert.equal((await call(1, 'POST', '/auth/sign-out', { cookie })).status, 403, 'sign-out needs the CSRF token');
    const out = await call(1, 'POST', '/auth/sign-out', { cookie, 'x-csrf-token': csrf });
    assert.equal(out.status, 204, out.body);
    assert.match(out.headers['set-cookie']![0]!, /^kanari_session=; .*Max-Age=0/);
    assert.equal((await call(1, 'GET', '/api/v1/whoami', { cookie })).status, 401);
    await untilStatus(0, cookie, 401);
  });

  it('ends a signed-out session’s streams at once on its replica, and on the other within the recheck', async () => {
    const { cookie, csrf } = await signIn(0, token.operator!);
    // Replica 1 knows the session once its copy of the sessions Secret is newer than the sign-in
    // (1 s here): a stream opened before that is refused 401, and never opens.
    await untilStatus(1, cookie, 200);
    const streams = [0, 1].map(
      (i) => new SseReader(`http://127.0.0.1:${ports[i]}/api/v1/rollouts/web/events`, { cookie }),
    );
    let ended = [false, false];
    streams.forEach((s, i) => void s.closed.then(() => (ended[i] = true)));
    try {
      await until('both streams open', () => streams.every((s) => s.status === 200)).catch((err: Error) => {
        // It failed once in a full run at load 7, at this wait (20 s): what each stream was answered.
        throw new Error(`the streams were answered ${streams.map((s) => s.status).join(' and ')}: ${err.message}`);
      });
      const out = await call(0, 'POST', '/auth/sign-out', { cookie, 'x-csrf-token': csrf });
      assert.equal(out.status, 204, out.body);
      await until('the stream on the replica signed out on ended', () => ended[0]!, 5_000);
      // The other reads the sessions Secret again once its copy is 1 s old here (5 s in use), at its next recheck (5 s).
      await until('the stream on the other replica ended', () => ended[1]!, 15_000);
    } finally {
      streams.forEach((s) => s.close());
      ended = [true, true];
    }
  });

  it("ends every session of a token revoked on one replica, on both, and refuses a Kubernetes token's sign-in", async () => {
    const made = await call(
      0,
      'POST',
      '/api/v1/tokens',
      { authorization: `Bearer ${token.admin}` },
      {
        name: 'laptop',
        role: 'operator',
      },
    );
    assert.equal(made.status, 201, made.body);
    const laptop = JSON.parse(made.body).token as string;
    const onA = await signIn(0, laptop);
    const onB = await signIn(1, laptop);
    for (const i of [0, 1]) for (const s of [onA, onB]) await untilStatus(i, s.cookie, 200);
    const revoked = await call(1, 'POST', '/api/v1/tokens/laptop/revoke', { authorization: `Bearer ${token.admin}` });
    assert.equal(revoked.status, 200, revoked.body);
    for (const i of [0, 1]) for (const s of [onA, onB]) await untilStatus(i, s.cookie, 401);

    const kube = await call(0, 'POST', '/auth/sign-in', {}, { token: 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln' });
    assert.equal(kube.status, 401);
    assert.match(JSON.parse(kube.body).detail, /only a kanari token .* Kubernetes token’s role comes from RBAC/);
    assert.equal(kube.headers['set-cookie'], undefined);
  });

  it('keeps at most its cap of sessions, dropping the oldest; two session cookies are refused, not guessed between', async () => {
    const first = await signIn(0, token.viewer!);
    for (let n = 0; n < MAX_ROWS; n++) await signIn(n % 2, token.viewer!);
    assert.equal(keysOf().length, MAX_ROWS);
    await untilStatus(1, first.cookie, 401);
    await untilStatus(0, first.cookie, 401);
    const [a, b] = [await signIn(0, token.viewer!), await signIn(1, token.admin!)];
    const both = await call(1, 'GET', '/api/v1/whoami', { cookie: `${a.cookie}; ${b.cookie}` });
    assert.equal(both.status, 401);
    assert.match(JSON.parse(both.body).detail, /2 kanari_session cookies/);
  });

  it('signs nobody in with a row that kanari could not have made, and prunes a Secret written over its limits', async () => {
    const id = () => randomBytes(32).toString('base64url');
    const keyOf = (i: string) => createHash('sha256').update(i).digest('hex');
    const [fine, long, link, future, orphan] = [id(), id(), id(), id(), id()];
    const at = Date.now();
    await writeSessions({
      ...(sessionsSecret()?.data as Record<string, string>),
      // As a replica writes one: taken, which is what shows the rows below are refused for what they say.
      [keyOf(fine)]: row(),
      [keyOf(long)]: row({ expiresAt: at + 100 * 86_400_000 }),
      [keyOf(link)]: row({ via: 'link' }),
      [keyOf(future)]: row({ role: 'root' }),
      [keyOf(orphan)]: row({ via: 'token' }),
    });
    await untilStatus(1, `kanari_session=${fine}`, 200);
    for (const forged of [long, link, future, orphan])
      for (const i of [0, 1])
        assert.equal((await call(i, 'GET', '/api/v1/whoami', { cookie: `kanari_session=${forged}` })).status, 401);
    assert.ok(log.some((l) => /key "[0-9a-f]{64}" is ignored: its lifetime is not one kanari gives/.test(l)));

    // Thousands of rows and a large key of something else, as if written by hand: the next sign-in cuts it down.
    const flood: Record<string, string> = { junk: 'x'.repeat(200_000) };
    for (let n = 0; n < 2000; n++) flood[keyOf(`flood-${n}`)] = row({ createdAt: at - 1000 - n, actor: `a${n}` });
    await writeSessions(flood);
    const fresh = await signIn(0, token.viewer!);
    assert.equal(keysOf().length, MAX_ROWS);
    assert.ok(!keysOf().includes('junk'));
    const bytes = keysOf().reduce(
      (n, k) => n + k.length + (sessionsSecret()!.data as Record<string, string>)[k]!.length,
      0,
    );
    assert.ok(bytes < 900 * 1024, `${bytes} bytes`);
    await untilStatus(1, fresh.cookie, 200);
  });
});
