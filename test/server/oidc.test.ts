/**
 * Single sign-on against a real OpenID Connect provider process (oidc-provider), driven by
 * fetch: a person's role from their groups claim, and every way a callback can be wrong —
 * state, a replayed code, no PKCE verifier, an expired flow, a provider's refusal, an ID
 * token for another audience, a person no role is mapped to — ending without a session.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { FetchBrowser, singleSignOnWorld, type SingleSignOnWorld } from '../helpers/oidc.js';
import { CLIENT_SECRET } from '../helpers/oidc-provider-process.js';

let world: SingleSignOnWorld;
let api: string;
let logged: string[];
let clock = Date.now();
/** The provider signs with this key, so the test can sign an ID token it changed as the provider would. */
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const KID = 'test-key';
/** What the test does to the ID token on its way from the provider's token endpoint to the controller. */
let tamper: ((claims: Record<string, unknown>) => void) | undefined;
/** Or the whole ID token the test makes in its place, from the provider's header and claims. */
let forge: ((header: Record<string, unknown>, claims: Record<string, unknown>) => string) | undefined;

/** The controller's fetch, with the token endpoint's ID token re-signed after `tamper` changed its claims. */
async function tamperingFetch(url: string, options: RequestInit): Promise<Response> {
  const res = await fetch(url, options);
  if (!tamper || !url.endsWith('/token')) return res;
  const body = (await res.json()) as { id_token: string };
  const [header, payload] = body.id_token.split('.');
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
  tamper(claims);
  const signed = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  body.id_token = forge
    ? forge(JSON.parse(Buffer.from(header!, 'base64url').toString()) as Record<string, unknown>, claims)
    : `${signed}.${crypto.sign('sha256', Buffer.from(signed), privateKey).toString('base64url')}`;
  return new Response(JSON.stringify(body), { status: res.status, headers: res.headers });
}

before(async () => {
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' };
  world = await singleSignOnWorld(
    { fetchForTests: tamperingFetch as never, now: () => clock },
    { OIDC_TEST_JWK: JSON.stringify(jwk) },
  );
  ({ api, logged } = world);
});
after(() => world.close());

/** Where the callback sent the browser, and the session it has then (undefined for none). */
async function land(
  browser: FetchBrowser,
  callback: URL | string,
): Promise<{ location: string; session?: Record<string, unknown> }> {
  const res = await browser.get(callback);
  assert.equal(res.status, 303, await res.text());
  const location = res.headers.get('location')!;
  assert.equal(browser.cookie(api, 'kanari_oidc'), undefined, 'the flow cookie is cleared either way');
  const s = await browser.get(`${api}/auth/session`);
  return { location, ...(s.status === 200 ? { session: (await s.json()) as Record<string, unknown> } : {}) };
}

const refusal = (location: string) =>
  /^\/\?sign-in-error=([a-z-]+)$/.exec(location)?.[1] ?? `not a refusal: ${location}`;

describe('single sign-on with a real OIDC provider', () => {
  it('offers itself on the sign-in page, labelled with the issuer host', async () => {
    const config = await (await fetch(`${api}/auth/config`)).json();
    assert.deepEqual(config, { oidc: { label: `Sign in with ${new URL(world.provider.issuer).host}` } });
  });

  it('signs a person in with the role their groups claim maps to, as oidc:<email>', async () => {
    for (const [login, role] of [
      ['alice', 'admin'],
      ['bob', 'operator'],
      ['vic', 'viewer'],
    ] as const) {
      const browser = new FetchBrowser();
      const start = await browser.get(`${api}/auth/oidc/start`);
      assert.equal(start.status, 302);
      const to = new URL(start.headers.get('location')!);
      assert.equal(to.origin, world.provider.issuer);
      assert.equal(to.searchParams.get('code_challenge_method'), 'S256');
      for (const p of ['code_challenge', 'state', 'nonce']) assert.ok(to.searchParams.get(p), p);
      assert.equal(to.searchParams.get('redirect_uri'), `${api}/auth/oidc/callback`);
      const callback = await browser.throughProvider(`${api}/auth/oidc/start`, login);
      const { location, session } = await land(browser, callback);
      assert.equal(location, '/');
      assert.equal(session?.actor, `oidc:${login}@example.test`);
      assert.equal(session?.role, role);
      assert.equal(session?.via, 'oidc');
    }
    assert.ok(logged.includes('oidc:alice@example.test signed in with single sign-on as admin'));
  });

  it('makes no session for a person whose groups map to no role, and says so', async () => {
    const browser = new FetchBrowser();
    const { location, session } = await land(browser, await browser.throughProvider(`${api}/auth/oidc/start`, 'carol'));
    assert.equal(session, undefined);
    assert.equal(refusal(location), 'role');
  });

  it('records no one under an email the provider has not verified: anyone can claim one at some providers', async () => {
    const browser = new FetchBrowser();
    const { location, session } = await land(
      browser,
      await browser.throughProvider(`${api}/auth/oidc/start`, 'mallory'),
    );
    assert.equal(session, undefined);
    assert.equal(refusal(location), 'actor');
  });

  it('refuses a callback whose state is not the one its browser started with', async () => {
    const browser = new FetchBrowser();
    const callback = await browser.throughProvider(`${api}/auth/oidc/start`, 'alice');
    callback.searchParams.set('state', 'someone-elses-state');
    const { location, session } = await land(browser, callback);
    assert.equal(session, undefined);
    assert.equal(refusal(location), 'state');
  });

  it('refuses a replayed callback and a replayed code, and a callback with no flow (no PKCE verifier)', async () => {
    const browser = new FetchBrowser();
    const callback = await browser.throughProvider(`${api}/auth/oidc/start`, 'alice');
    const flow = browser.cookie(api, 'kanari_oidc')!;
    assert.equal((await land(browser, callback)).location, '/');
    const fresh = new FetchBrowser();
    // The same callback again, with the flow cookie it came with: used once already.
    const replayed = await fresh.get(callback, { headers: { cookie: `kanari_oidc=${flow}` } });
    assert.equal(refusal(replayed.headers.get('location')!), 'flow');
    // The used code with a new flow's own state: the provider refuses it, and nothing is said of why.
    const start = await fresh.get(`${api}/auth/oidc/start`);
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
    const again = new URL(callback);
    again.searchParams.set('state', state);
    const second = await land(fresh, again);
    assert.equal(second.session, undefined);
    assert.equal(refusal(second.location), 'invalid');
    // No flow cookie at all.
    const bare = new FetchBrowser();
    const none = await land(bare, callback);
    assert.equal(none.session, undefined);
    assert.equal(refusal(none.location), 'flow');
  });

  it('refuses a flow older than 10 minutes, and passes on a refusal of the provider without its words', async () => {
    const browser = new FetchBrowser();
    const callback = await browser.throughProvider(`${api}/auth/oidc/start`, 'alice');
    clock += 10 * 60_000;
    try {
      assert.equal(refusal((await land(browser, callback)).location), 'flow');
    } finally {
      clock -= 10 * 60_000;
    }
    const denied = new FetchBrowser();
    const start = await denied.get(`${api}/auth/oidc/start`);
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
    const { location, session } = await land(
      denied,
      `${api}/auth/oidc/callback?error=access_denied&error_description=${encodeURIComponent('<script>secret')}&state=${state}`,
    );
    assert.equal(session, undefined);
    assert.equal(refusal(location), 'provider');
  });
  it('refuses an ID token for another audience or nonce, and takes one the test re-signed unchanged', async () => {
    const signIn = async (change: (claims: Record<string, unknown>) => void) => {
      const browser = new FetchBrowser();
      const callback = await browser.throughProvider(`${api}/auth/oidc/start`, 'alice');
      tamper = change;
      try {
        return await land(browser, callback);
      } finally {
        tamper = undefined;
      }
    };
    assert.equal(
      (await signIn(() => {})).session?.actor,
      'oidc:alice@example.test',
      're-signing alone changes nothing',
    );
    const other = await signIn((claims) => (claims.aud = 'another-client'));
    assert.equal(other.session, undefined);
    assert.equal(refusal(other.location), 'invalid');
    assert.ok(
      logged.some((l) => /single sign-on refused: .*aud/.test(l)),
      logged.join('\n'),
    );
    const nonce = await signIn((claims) => (claims.nonce = 'from-another-sign-in'));
    assert.equal(nonce.session, undefined);
    assert.ok(
      logged.some((l) => /single sign-on refused: .*nonce/.test(l)),
      logged.join('\n'),
    );
  });

  it('refuses an ID token signed with alg none, HS256 keyed with the client secret, or another key', async () => {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const hs256 = (input: string) => crypto.createHmac('sha256', CLIENT_SECRET).update(input).digest('base64url');
    const { privateKey: otherKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forgeries: Record<string, (header: Record<string, unknown>, claims: Record<string, unknown>) => string> = {
      none: (header, claims) => `${b64({ ...header, alg: 'none' })}.${b64(claims)}.`,
      HS256: (header, claims) => {
        const input = `${b64({ alg: 'HS256', typ: header.typ })}.${b64(claims)}`;
        return `${input}.${hs256(input)}`;
      },
      'RS256 with another key': (header, claims) => {
        const input = `${b64(header)}.${b64(claims)}`;
        return `${input}.${crypto.sign('sha256', Buffer.from(input), otherKey).toString('base64url')}`;
      },
    };
    // The same change signed with the provider's key is taken: the forgeries below fail by their signature alone.
    const honest = new FetchBrowser();
    const callback = await honest.throughProvider(`${api}/auth/oidc/start`, 'vic');
    tamper = (claims) => (claims.groups = ['platform']);
    try {
      assert.equal((await land(honest, callback)).session?.role, 'admin');
    } finally {
      tamper = undefined;
    }
    for (const [what, make] of Object.entries(forgeries)) {
      const browser = new FetchBrowser();
      const callback = await browser.throughProvider(`${api}/auth/oidc/start`, 'vic');
      tamper = (claims) => (claims.groups = ['platform']);
      forge = make;
      try {
        const { session, location } = await land(browser, callback);
        assert.equal(session, undefined, `${what}: ${location}`);
      } finally {
        tamper = forge = undefined;
      }
    }
  });

  it('never puts the client secret in a log line', () => {
    assert.ok(logged.length > 0);
    assert.ok(!logged.some((l) => l.includes(CLIENT_SECRET)));
  });
});
