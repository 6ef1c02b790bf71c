/**
 * The browser's side of the controller API, over HTTP on a controller in process: every
 * route of the table with no cookie, a bad one, an expired session, a revoked token's
 * session and a session of each role; the CSRF token on everything that changes something;
 * token sign-in and its hostile bodies; the sign-in link; odd, doubled and huge cookies;
 * sign-out; and sessions across a restart. (Single sign-on: oidc.test.ts.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { apiRoutes, createApiServer } from '../../src/server/api.js';
import { Controller } from '../../src/server/controller.js';
import { SESSION_LIFETIME_MS, Sessions, SignInCodes } from '../../src/server/sessions.js';
import { ROLES, Tokens, type Role } from '../../src/server/tokens.js';
import { request, type Reply } from '../helpers/http.js';
import { servedConformance, type Exchange } from '../helpers/openapi-conformance.js';
import { SseReader } from '../helpers/sse.js';

const LOCAL = 'browser-test-local-admin-token';
const CSRF_REFUSAL = 'missing or wrong CSRF token (X-CSRF-Token)';
const dir = mkdtempSync(join(tmpdir(), 'kanari-browser-'));
let controller: Controller;
let server: http.Server;
let port: number;
let conforms: (e: Exchange) => void;
let clock = Date.now();
const codes = new SignInCodes(() => clock);
const token: Record<Role | 'revoked', string> = {} as never;

async function open(): Promise<void> {
  controller = new Controller(dir);
  server = createApiServer(controller, LOCAL, () => {}, { log: () => {}, codes }) as http.Server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
}

async function close(): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await controller.close();
}

before(async () => {
  await open();
  conforms = await servedConformance(port);
  const tokens = new Tokens(controller.store.tokens);
  for (const role of ROLES) token[role] = (await tokens.create({ name: `${role}-bot`, role })).token;
  token.revoked = (await tokens.create({ name: 'gone', role: 'admin' })).token;
});
after(async () => {
  await close();
  rmSync(dir, { recursive: true, force: true });
});

async function call(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  const sent = body === undefined ? headers : { 'content-type': 'application/json', ...headers };
  const reply = await request(port, { method, path, headers: sent, ...(body === undefined ? {} : { body }) });
  conforms({ method, path, body, reply });
  return reply;
}

/** A browser's session: its cookie and CSRF token, signed in with `t`. */
async function signIn(t: string): Promise<{ cookie: string; csrf: string }> {
  const r = await call('POST', '/auth/sign-in', {}, JSON.stringify({ token: t }));
  assert.equal(r.status, 204, r.body);
  const cookie = cookieOf(r);
  const s = JSON.parse((await call('GET', '/auth/session', { cookie })).body) as { csrf: string };
  return { cookie, csrf: s.csrf };
}

function cookieOf(r: Reply): string {
  const set = r.headers['set-cookie']?.find((c) => c.startsWith('kanari_session='));
  assert.ok(set, `a session cookie: ${JSON.stringify(r.headers)}`);
  return set.split(';')[0]!;
}

const concrete = (path: string) => path.replace(':name', 'ghost').replace(':id', 'x').replace(':ref', 'nobody');
const changes = (method: string) => method !== 'GET' && method !== 'HEAD';
const detail = (r: Reply) => (JSON.parse(r.body) as { detail: string }).detail;

describe('browser sessions over HTTP', () => {
  const table = () => apiRoutes(controller, {} as never, new Tokens(controller.store.tokens), () => {}, {} as never);

  it('refuses every route but the public ones to no cookie, a bad one, an expired session and a revoked token’s', async () => {
    const gone = await signIn(token.revoked);
    await new Tokens(controller.store.tokens).revoke('gone');
    const old = new Sessions(
      controller.store.sessions,
      controller.store.tokens,
      () => Date.now() - SESSION_LIFETIME_MS,
    );
    const expired = `kanari_session=${(await old.start({ actor: 'old', role: 'admin', via: 'link' })).id}`;
    const bad = ['', 'kanari_session=nope', `kanari_session=${'A'.repeat(43)}`, gone.cookie, expired];
    for (const r of table().filter((r) => !r.public)) {
      const body = r.method === 'POST' ? '{}' : undefined;
      for (const cookie of bad) {
        const res = await call(r.method, concrete(r.path), cookie ? { cookie, 'x-csrf-token': gone.csrf } : {}, body);
        assert.equal(res.status, 401, `${r.method} ${r.path} with ${cookie.slice(0, 30)}: ${res.body}`);
      }
    }
  });

  it("lets a session do what its token's role may, with the CSRF token, and refuses the rest by role", async () => {
    for (const role of ROLES) {
      const s = await signIn(token[role]);
      // Sign-out and shutdown would end the test's session and controller; the stream is the sign-out test's.
      const skipped = ['/auth/sign-out', '/api/v1/shutdown', '/api/v1/events', '/api/v1/rollouts/:name/events'];
      for (const r of table().filter((r) => !r.public && !skipped.includes(r.path))) {
        const what = `${r.method} ${r.path} as a ${role} session`;
        const body = r.method === 'POST' ? '{}' : undefined;
        const res = await call(r.method, concrete(r.path), { cookie: s.cookie, 'x-csrf-token': s.csrf }, body);
        if (ROLES.indexOf(role) < ROLES.indexOf(r.role!)) {
          assert.equal(res.status, 403, `${what}: ${res.body}`);
          assert.equal(detail(res), `this needs the ${r.role} role; the session of ${role}-bot has ${role}`);
        } else assert.ok(![401, 403].includes(res.status), `${what}: ${res.status} ${res.body}`);
      }
    }
  });

  it('refuses every route that changes something to a session cookie without its CSRF token, or with a wrong one', async () => {
    const s = await signIn(token.admin);
    const other = await signIn(token.admin);
    const changing = table().filter((r) => !r.public && changes(r.method));
    assert.ok(changing.length >= 10, 'the table has them');
    for (const r of changing)
      for (const headers of [{ cookie: s.cookie }, { cookie: s.cookie, 'x-csrf-token': other.csrf }] as Record<
        string,
        string
      >[]) {
        const res = await call(r.method, concrete(r.path), headers, r.method === 'POST' ? '{}' : undefined);
        assert.equal(res.status, 403, `${r.method} ${r.path}: ${res.body}`);
        assert.equal(detail(res), CSRF_REFUSAL);
      }
    assert.equal((await call('GET', '/auth/session', { cookie: s.cookie })).status, 200, 'still signed in');
    // A bearer token needs none, and wins over a cookie sent beside it.
    const bearer = { authorization: `Bearer ${token.operator}`, cookie: s.cookie };
    assert.equal((await call('POST', '/api/v1/rollouts/ghost/pause', bearer, '{}')).status, 404);
    assert.equal(JSON.parse((await call('GET', '/api/v1/whoami', bearer)).body).name, 'operator-bot');
    assert.equal((await call('POST', '/api/v1/tokens', bearer, '{"name":"x","role":"viewer"}')).status, 403);
  });

  it("signs in with a token: the cookie's attributes, the session's answer", async () => {
    const r = await call('POST', '/auth/sign-in', {}, JSON.stringify({ token: token.operator }));
    assert.equal(r.status, 204);
    assert.equal(r.body, '');
    const [set] = r.headers['set-cookie']!;
    assert.match(set!, /^kanari_session=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Lax; Path=\/; Max-Age=43200$/);
    const s = JSON.parse((await call('GET', '/auth/session', { cookie: cookieOf(r) })).body);
    assert.deepEqual(Object.keys(s).sort(), ['actor', 'csrf', 'expires', 'role', 'via']);
    assert.equal(s.actor, 'operator-bot');
    assert.equal(s.role, 'operator');
    assert.equal(s.via, 'token');
    assert.ok(Math.abs(s.expires - (Date.now() + SESSION_LIFETIME_MS)) < 60_000);
    const who = JSON.parse((await call('GET', '/api/v1/whoami', { cookie: cookieOf(r) })).body);
    assert.deepEqual(Object.keys(who).sort(), ['name', 'role', 'tokenId'], 'no CSRF token in whoami');
  });

  it('refuses a wrong, revoked or malformed token with one answer, and hostile bodies with a reason', async () => {
    for (const t of [token.revoked, 'kanari_0123456789abcdef_' + 'A'.repeat(43), 'short', 'with space in it ok ok'])
      assert.equal(
        detail(await call('POST', '/auth/sign-in', {}, JSON.stringify({ token: t }))),
        'wrong, expired or revoked token',
      );
    for (const body of [
      'not json',
      '{"token":5}',
      '{"token":"x","extra":1}',
      '[]',
      JSON.stringify({ token: 'x'.repeat(401) }),
    ]) {
      const r = await call('POST', '/auth/sign-in', {}, body);
      assert.equal(r.status, 400, body.slice(0, 40));
      assert.equal(r.headers['set-cookie'], undefined);
    }
    // What another site's form, or its no-cors fetch of a typeless Blob, may send without a preflight.
    const json = JSON.stringify({ token: token.admin });
    for (const [type, body] of [
      ['application/x-www-form-urlencoded', `token=${token.admin}`],
      ['text/plain', json],
      ['multipart/form-data; boundary=x', json],
      [undefined, json],
    ] as const) {
      const headers: Record<string, string> = type === undefined ? {} : { 'content-type': type };
      const r = await request(port, { method: 'POST', path: '/auth/sign-in', headers, body });
      assert.equal(r.status, 415, `a cross-site ${type ?? 'typeless'} body cannot sign a browser in`);
      assert.equal(r.headers['set-cookie'], undefined);
    }
    const huge = await request(port, {
      method: 'POST',
      path: '/auth/sign-in',
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(4 * 1024 * 1024 + 1, 0x20),
    });
    assert.equal(huge.status, 413);
  });

  it('reads the cookie strictly: odd characters, two of them, and a huge Cookie header are refused', async () => {
    const s = await signIn(token.viewer);
    const id = s.cookie.slice('kanari_session='.length);
    for (const cookie of [
      `kanari_session="${id}"`,
      `kanari_session=${id}%00`,
      `kanari_session=${id};kanari_session=${id}`,
      `kanari_session=${id}\u00e9`.replace('é', 'e9'),
    ])
      assert.equal((await request(port, { path: '/auth/session', headers: { cookie } })).status, 401, cookie);
    assert.match(
      detail(await call('GET', '/auth/session', { cookie: `${s.cookie}; other=1; ${s.cookie}` })),
      /carries 2 kanari_session cookies/,
    );
    assert.equal((await call('GET', '/auth/session', { cookie: `a=1; ${s.cookie}; b=2` })).status, 200);
    const huge = await request(port, {
      path: '/auth/session',
      headers: { cookie: `${s.cookie}; pad=${'x'.repeat(20_000)}` },
    });
    assert.equal(huge.status, 431, "Node's own limit on headers");
    assert.equal((await call('GET', '/auth/session', { cookie: s.cookie })).status, 200, 'and it answers on');
  });

  it('signs out with the CSRF token only, ends the session server side, and ends its event stream', async () => {
    const s = await signIn(token.viewer);
    const stream = new SseReader(`http://127.0.0.1:${port}/api/v1/events`, { cookie: s.cookie });
    await stream.until(() => stream.status !== 0, 10_000, 'the stream opening');
    assert.equal(stream.status, 200);
    assert.equal((await call('POST', '/auth/sign-out', { cookie: s.cookie })).status, 403);
    const out = await call('POST', '/auth/sign-out', { cookie: s.cookie, 'x-csrf-token': s.csrf });
    assert.equal(out.status, 204);
    assert.deepEqual(out.headers['set-cookie'], ['kanari_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0']);
    await stream.closed;
    assert.equal(
      (await call('GET', '/auth/session', { cookie: s.cookie })).status,
      401,
      'the old cookie is worth nothing',
    );
    assert.equal((await call('POST', '/auth/sign-out', { authorization: `Bearer ${token.viewer}` })).status, 401);
  });

  it('exchanges a sign-in link once, within 60 s, for an admin session named local, and takes the code out of the address', async () => {
    const code = codes.issue();
    const r = await call('GET', `/sign-in?code=${code}`);
    assert.equal(r.status, 303);
    assert.equal(r.headers.location, '/');
    const s = JSON.parse((await call('GET', '/auth/session', { cookie: cookieOf(r) })).body);
    assert.deepEqual([s.actor, s.role, s.via], ['local', 'admin', 'link']);
    const late = codes.issue();
    clock += 60_000;
    for (const path of [`/sign-in?code=${code}`, `/sign-in?code=${late}`, '/sign-in?code=made-up', '/sign-in']) {
      const again = await call('GET', path);
      assert.equal(again.status, 303, path);
      assert.equal(again.headers.location, '/?sign-in-error=link');
      assert.equal(again.headers['set-cookie'], undefined, `${path}: no session`);
    }
    assert.equal((await call('GET', `/sign-in?code=${'x'.repeat(101)}`)).status, 400);
  });

  it('makes one session of a sign-in link used twice at once', async () => {
    const code = codes.issue();
    const both = await Promise.all([call('GET', `/sign-in?code=${code}`), call('GET', `/sign-in?code=${code}`)]);
    assert.deepEqual(both.map((r) => r.headers.location === '/').sort(), [false, true], JSON.stringify(both));
  });

  it('keeps answers read with a session cookie out of caches: a shared cache may store them, unlike bearer ones', async () => {
    const s = await signIn(token.viewer);
    for (const path of ['/auth/session', '/api/v1/whoami', '/api/v1/rollouts']) {
      const r = await call('GET', path, { cookie: s.cookie });
      assert.equal(r.status, 200, r.body);
      assert.equal(r.headers['cache-control'], 'no-store', path);
    }
  });

  it('says single sign-on is not configured, at every step of it', async () => {
    assert.deepEqual(JSON.parse((await call('GET', '/auth/config')).body), { oidc: null });
    assert.equal((await call('GET', '/auth/oidc/start')).status, 404);
    const back = await call('GET', '/auth/oidc/callback?code=x&state=y');
    assert.equal(back.headers.location, '/?sign-in-error=sso-off');
  });

  it('keeps people signed in across a restart of the controller', async () => {
    const s = await signIn(token.operator);
    await close();
    await open();
    const again = await request(port, { path: '/auth/session', headers: { cookie: s.cookie } });
    assert.equal(again.status, 200, again.body);
    assert.equal(JSON.parse(again.body).csrf, s.csrf);
  });
});

describe('cookies behind a proxy that terminates TLS', () => {
  /** A controller's API over plain HTTP, as a proxy in front of it would reach it. */
  async function behindProxy(o: { secureCookies?: boolean }): Promise<{ port: number; close(): Promise<void> }> {
    const d = mkdtempSync(join(tmpdir(), 'kanari-proxied-'));
    const c = new Controller(d);
    const s = createApiServer(c, LOCAL, () => {}, { log: () => {}, ...o }) as http.Server;
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return {
      port: (s.address() as AddressInfo).port,
      close: async () => {
        s.closeAllConnections();
        await new Promise((resolve) => s.close(resolve));
        await c.close();
        rmSync(d, { recursive: true, force: true });
      },
    };
  }
  const signedIn = (p: number, headers: Record<string, string> = {}) =>
    request(p, {
      method: 'POST',
      path: '/auth/sign-in',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ token: LOCAL }),
    });

  it('are Secure and __Host- with secureCookies, and only that cookie signs a request in', async () => {
    const api = await behindProxy({ secureCookies: true });
    try {
      const r = await signedIn(api.port);
      assert.equal(r.status, 204, r.body);
      const set = r.headers['set-cookie']!.find((c) => c.includes('kanari_session='))!;
      assert.match(
        set,
        /^__Host-kanari_session=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Lax; Path=\/; Max-Age=43200; Secure$/,
      );
      const cookie = set.split(';')[0]!;
      const id = cookie.slice(cookie.indexOf('=') + 1);
      const who = await request(api.port, { path: '/auth/session', headers: { cookie } });
      assert.equal(who.status, 200, who.body);
      // Single sign-on's flow cookie, on its own path, takes __Secure- (which needs no Path=/).
      const callback = await request(api.port, { path: '/auth/oidc/callback' });
      assert.deepEqual(callback.headers['set-cookie'], [
        '__Secure-kanari_oidc=; HttpOnly; SameSite=Lax; Path=/auth/oidc; Max-Age=0; Secure',
      ]);
      const plain = await request(api.port, { path: '/auth/session', headers: { cookie: `kanari_session=${id}` } });
      assert.equal(plain.status, 401, 'the same id under the name a plain-HTTP page could set');
      const out = await request(api.port, {
        method: 'POST',
        path: '/auth/sign-out',
        headers: { cookie, 'x-csrf-token': JSON.parse(who.body).csrf },
      });
      assert.deepEqual(out.headers['set-cookie'], [
        '__Host-kanari_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0; Secure',
      ]);
    } finally {
      await api.close();
    }
  });

  it('are not made Secure by what a request says of itself (X-Forwarded-Proto), without secureCookies', async () => {
    const api = await behindProxy({});
    try {
      const r = await signedIn(api.port, { 'x-forwarded-proto': 'https', forwarded: 'proto=https' });
      assert.equal(r.status, 204, r.body);
      assert.match(
        r.headers['set-cookie']!.find((c) => c.includes('kanari_session='))!,
        /^kanari_session=[^;]+; HttpOnly; SameSite=Lax; Path=\/; Max-Age=43200$/,
      );
    } finally {
      await api.close();
    }
  });
});
