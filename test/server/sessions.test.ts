/**
 * Browser sessions on a store in memory and a clock of the test's: ids kept only as hashes,
 * 12 hours from sign-in and no longer, ended with the token they came from, capped; the
 * cookie read strictly; the CSRF token compared; sign-in link codes good once for 60 s; a
 * single sign-on that cannot start for want of the sessions Secret says so.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  checkCsrf,
  MAX_SESSIONS,
  MAX_SESSIONS_PER_ACTOR,
  SIGN_INS_PER_MINUTE,
  requestPrincipal,
  SESSION_LIFETIME_MS,
  sessionCookie,
  sessionCookieHeader,
  Sessions,
  SignInCodes,
} from '../../src/server/sessions.js';
import { Tokens } from '../../src/server/tokens.js';
import { authRoutes } from '../../src/server/auth-routes.js';
import { HttpError } from '../../src/shared/http.js';
import { Store } from '../../src/store/sqlite.js';
import { refusal } from '../helpers/refusal.js';

let store: Store;
let now: number;
let sessions: Sessions;
let tokens: Tokens;

beforeEach(() => {
  store = new Store(':memory:');
  now = Date.UTC(2026, 0, 1);
  tokens = new Tokens(store.tokens, () => now);
  sessions = new Sessions(store.sessions, store.tokens, () => now);
});
afterEach(() => store.close());

const request = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

describe('browser sessions', () => {
  it('are 256 random bits that only the cookie holds: the store keeps their SHA-256', async () => {
    const { id, expiresAt } = await sessions.start({ actor: 'oidc:alice@example.test', role: 'operator', via: 'oidc' });
    assert.match(id, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(expiresAt, now + SESSION_LIFETIME_MS);
    const hash = crypto.createHash('sha256').update(id).digest();
    const row = store.sessions.byHash(hash)!;
    assert.ok(!JSON.stringify(row).includes(id), 'not the id itself');
    const p = sessions.authenticate(id);
    assert.equal(p.name, 'oidc:alice@example.test');
    assert.equal(p.role, 'operator');
    assert.equal(p.tokenId, undefined);
    assert.deepEqual(
      { ...p.session, csrf: undefined },
      { key: hash.toString('hex'), csrf: undefined, expiresAt, via: 'oidc' },
    );
    assert.match(p.session!.csrf, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual((await sessions.start({ actor: 'a', role: 'viewer', via: 'link' })).id, id);
  });

  it('end 12 hours after sign-in however busy, and once signed out', async () => {
    const { id } = await sessions.start({ actor: 'local', role: 'admin', via: 'link' });
    now += SESSION_LIFETIME_MS - 1;
    assert.equal(sessions.authenticate(id).name, 'local');
    now += 1;
    assert.match(
      (await refusal(() => sessions.authenticate(id))).detail,
      /^the session expired at 2026-01-01T12:00:00.000Z/,
    );
    assert.equal((await refusal(() => sessions.authenticate(id))).status, 401, 'and it is gone');
    const other = await sessions.start({ actor: 'local', role: 'admin', via: 'link' });
    await sessions.end(sessions.authenticate(other.id).session!);
    assert.match((await refusal(() => sessions.authenticate(other.id))).detail, /^no such session/);
  });

  it('end with the token they were signed in with: revoked or expired, it takes its sessions along', async () => {
    const revoked = await tokens.create({ name: 'ci', role: 'operator' });
    const expiring = await tokens.create({ name: 'brief', role: 'viewer', lifetimeMs: 60_000 });
    const a = await sessions.start({ actor: 'ci', role: 'operator', via: 'token', tokenId: revoked.info.id });
    const b = await sessions.start({ actor: 'brief', role: 'viewer', via: 'token', tokenId: expiring.info.id });
    assert.equal(sessions.authenticate(a.id).tokenId, revoked.info.id);
    await tokens.revoke('ci');
    assert.match(
      (await refusal(() => sessions.authenticate(a.id))).detail,
      /token this session was signed in with was revoked/,
    );
    assert.equal(sessions.authenticate(b.id).name, 'brief');
    now += 60_000;
    assert.equal((await refusal(() => sessions.authenticate(b.id))).status, 401);
  });

  it('are capped: signing in in a loop drops the oldest, and expired ones go at the next sign-in', async () => {
    const ids = [0, 1, 2, 3].map((i) => {
      now += 1;
      const id = crypto.randomBytes(32).toString('base64url');
      const hash = crypto.createHash('sha256').update(id).digest();
      store.sessions.insert(
        { hash, actor: `a${i}`, role: 'viewer', via: 'token', csrf: 'c', createdAt: now, expiresAt: now + 10 },
        3,
      );
      return id;
    });
    assert.equal(store.sessions.count(), 3);
    assert.equal((await refusal(() => sessions.authenticate(ids[0]!))).status, 401, 'the oldest went');
    assert.equal(sessions.authenticate(ids[3]!).name, 'a3');
    now += 100;
    await sessions.start({ actor: 'late', role: 'viewer', via: 'link' });
    assert.equal(store.sessions.count(), 1, 'the expired ones went with it');
    assert.equal(MAX_SESSIONS, 10_000);
  });

  it('are capped per actor too: one token signing in in a loop signs nobody else out', async () => {
    const insert = store.sessions.insert.bind(store.sessions);
    const signIn = (actor: string) => {
      now += 1;
      const id = crypto.randomBytes(32).toString('base64url');
      const hash = crypto.createHash('sha256').update(id).digest();
      insert({ hash, actor, role: 'viewer', via: 'token', csrf: 'c', createdAt: now, expiresAt: now + 1000 }, 4, 2);
      return id;
    };
    const alice = signIn('alice');
    const mallory = [0, 1, 2, 3].map(() => signIn('mallory'));
    assert.equal(sessions.authenticate(alice).name, 'alice');
    assert.equal((await refusal(() => sessions.authenticate(mallory[1]!))).status, 401, "mallory's older ones went");
    assert.equal(sessions.authenticate(mallory[3]!).name, 'mallory');
    assert.equal(store.sessions.count(), 3);
    assert.equal(MAX_SESSIONS_PER_ACTOR, 100);
  });

  it('are refused past SIGN_INS_PER_MINUTE for one actor, with when to try again; no one else is held up', async () => {
    const start = (actor: string) => sessions.start({ actor, role: 'viewer', via: 'link' });
    for (let i = 0; i < SIGN_INS_PER_MINUTE; i++) {
      now += 1000;
      await start('loop');
    }
    const written = store.sessions.count();
    let refused: unknown;
    await start('loop').catch((err: unknown) => (refused = err));
    assert.ok(refused instanceof HttpError && refused.status === 429, String(refused));
    assert.equal(refused.headers['retry-after'], '51', 'its first sign-in of the minute ages out in 51 s');
    assert.match(refused.message, /^loop signed in 10 times in the last minute: try again in 51 s$/);
    assert.equal(store.sessions.count(), written, 'nothing written for it');
    await start('someone-else');
    now += 51_000;
    await start('loop');
    assert.equal(SIGN_INS_PER_MINUTE, 10);
  });

  it('are looked up only for a well-formed id', async () => {
    for (const id of ['', 'x', 'a'.repeat(42), 'a'.repeat(44), `${'a'.repeat(42)}=`, `${'a'.repeat(42)}%`, '"quoted"'])
      assert.match((await refusal(() => sessions.authenticate(id))).detail, /^no such session/, JSON.stringify(id));
  });

  it('are ended by sign-out for the event streams that watch them, and by expiry', async () => {
    const { id } = await sessions.start({ actor: 'local', role: 'admin', via: 'link' });
    const ref = sessions.authenticate(id).session!;
    let ended = 0;
    sessions.whileValid(ref, () => ended++);
    const stop = sessions.whileValid(ref, () => assert.fail('stopped watching'));
    stop();
    await sessions.end(ref);
    assert.equal(ended, 1);
    // A session whose end is already past ends its stream at once (a timer of 0).
    now += SESSION_LIFETIME_MS;
    await new Promise<void>((resolve) => sessions.whileValid(ref, resolve));
  });
});

describe('the session cookie', () => {
  it('is read from a Cookie header among others; two of them are refused, not guessed between', async () => {
    assert.equal(sessionCookie(undefined, false), undefined);
    assert.equal(sessionCookie('a=1; b=2', false), undefined);
    assert.equal(sessionCookie('a=1;kanari_session=abc;  b=2', false), 'abc');
    assert.equal(sessionCookie('xkanari_session=abc', false), undefined);
    assert.match(
      (await refusal(() => sessionCookie('kanari_session=a; kanari_session=b', false))).detail,
      /carries 2 kanari_session cookies/,
    );
  });

  it('is HttpOnly, SameSite=Lax, on every path, for 12 hours, Secure and __Host- over TLS; signing out clears it', async () => {
    assert.equal(
      sessionCookieHeader(false, 'abc'),
      'kanari_session=abc; HttpOnly; SameSite=Lax; Path=/; Max-Age=43200',
    );
    assert.equal(
      sessionCookieHeader(true, 'abc'),
      '__Host-kanari_session=abc; HttpOnly; SameSite=Lax; Path=/; Max-Age=43200; Secure',
    );
    assert.equal(
      sessionCookieHeader(true),
      '__Host-kanari_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0; Secure',
    );
  });

  it('is read under its own mode’s name only: over TLS, one a sibling site or plain HTTP could set is not', async () => {
    assert.equal(sessionCookie('__Host-kanari_session=abc', true), 'abc');
    assert.equal(sessionCookie('kanari_session=abc', true), undefined);
    assert.equal(sessionCookie('kanari_session=abc; __Host-kanari_session=def', true), 'def');
    assert.equal(sessionCookie('__Host-kanari_session=abc', false), undefined);
    assert.equal(sessionCookie('__host-kanari_session=abc', true), undefined, 'the prefix is the browser’s, as cased');
    assert.match(
      (await refusal(() => sessionCookie('__Host-kanari_session=a; __Host-kanari_session=b', true))).detail,
      /carries 2 __Host-kanari_session cookies/,
    );
  });

  it('counts for nothing beside a bearer token: the bearer wins', async () => {
    const made = await tokens.create({ name: 'ci', role: 'viewer' });
    const { id } = await sessions.start({ actor: 'local', role: 'admin', via: 'link' });
    const both = request({ authorization: `Bearer ${made.token}`, cookie: `kanari_session=${id}` });
    assert.deepEqual(requestPrincipal(both, tokens, sessions, false), {
      name: 'ci',
      role: 'viewer',
      tokenId: made.info.id,
    });
    const wrongBearer = request({ authorization: 'Bearer nope-nope-nope-nope', cookie: `kanari_session=${id}` });
    assert.equal((await refusal(() => requestPrincipal(wrongBearer, tokens, sessions, false))).status, 401);
    assert.equal(requestPrincipal(request({ cookie: `kanari_session=${id}` }), tokens, sessions, false).name, 'local');
    assert.match(
      (await refusal(() => requestPrincipal(request({}), tokens, sessions, false))).detail,
      /missing or wrong bearer token/,
    );
  });
});

describe('the CSRF token', () => {
  it("must be the session's own, in X-CSRF-Token", async () => {
    const { id } = await sessions.start({ actor: 'local', role: 'admin', via: 'link' });
    const ref = sessions.authenticate(id).session!;
    checkCsrf(request({ 'x-csrf-token': ref.csrf }), ref);
    for (const sent of [
      {},
      { 'x-csrf-token': '' },
      { 'x-csrf-token': ref.csrf.slice(1) },
      { 'x-csrf-token': `${ref.csrf}, ${ref.csrf}` },
    ] as Record<string, string>[]) {
      const r = await refusal(() => checkCsrf(request(sent), ref));
      assert.deepEqual(r, { status: 403, detail: 'missing or wrong CSRF token (X-CSRF-Token)' }, JSON.stringify(sent));
    }
    const other = sessions.authenticate((await sessions.start({ actor: 'b', role: 'admin', via: 'link' })).id).session!;
    assert.equal(
      (await refusal(() => checkCsrf(request({ 'x-csrf-token': other.csrf }), ref))).status,
      403,
      "another session's",
    );
  });
});

describe('sign-in link codes', () => {
  it('are good once, for 60 s, and unknown ones for nothing', async () => {
    const codes = new SignInCodes(() => now);
    const a = codes.issue();
    const b = codes.issue();
    assert.match(a, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(codes.redeem(a), true);
    assert.equal(codes.redeem(a), false, 'a second use');
    assert.equal(codes.redeem('made-up'), false);
    now += 60_000;
    assert.equal(codes.redeem(b), false, 'expired');
  });

  it('are at most 100 at a time in memory: the oldest go first', async () => {
    const codes = new SignInCodes(() => now);
    const first = codes.issue();
    const rest = Array.from({ length: 100 }, () => codes.issue());
    assert.equal(codes.redeem(first), false);
    assert.equal(codes.redeem(rest[0]!), true);
  });
});

describe('single sign-on started while the sessions Secret cannot be used', () => {
  it('answers 503 with the Secret’s reason, not that the identity provider cannot be reached', async () => {
    const why =
      "cannot read the API's browser sessions (Secret kanari-system/kanari-api-sessions): connect ECONNREFUSED";
    const lines: string[] = [];
    const start = authRoutes({
      tokens: {} as never,
      sessions: {} as never,
      secure: true,
      log: (l) => lines.push(l),
      oidc: {
        label: 'Sign in',
        start: () => Promise.reject(new HttpError(503, why)),
        finish: () => Promise.reject(),
      },
    }).find((r) => r.path === '/auth/oidc/start')!;
    await assert.rejects(
      Promise.resolve(start.handle({} as never)),
      (err: unknown) => err instanceof HttpError && err.status === 503 && err.message === why,
    );
  });
});
