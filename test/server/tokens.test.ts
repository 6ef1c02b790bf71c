/**
 * The API's tokens on a store in memory and a clock of the test's: made random and shown
 * once, kept as hashes, compared in constant time, refused once revoked or expired, last
 * use kept to the minute, and the token `kanari up` keeps in its state directory.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { LOCAL_TOKEN_NAME, localToken, parseLifetime, Tokens } from '../../src/server/tokens.js';
import { Store } from '../../src/store/sqlite.js';
import { refusal } from '../helpers/refusal.js';

const DAY = 86_400_000;
let store: Store;
let now: number;
let tokens: Tokens;

beforeEach(() => {
  store = new Store(':memory:');
  now = Date.UTC(2026, 0, 1);
  tokens = new Tokens(store.tokens, () => now);
});
afterEach(() => store.close());

const bearer = (token: string) => `Bearer ${token}`;

describe('API tokens', () => {
  it('are 256 random bits behind a non-secret id, and only their SHA-256 is kept', async () => {
    const a = await tokens.create({ name: 'ci', role: 'operator' });
    const b = await tokens.create({ name: 'ci2', role: 'operator' });
    assert.match(a.token, /^kanari_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(a.token.slice(24), 'base64url').length, 32);
    assert.notEqual(a.token.slice(24), b.token.slice(24));
    assert.equal(a.token.slice(7, 23), a.info.id);
    const [row] = store.tokens.list();
    assert.deepEqual(row!.hash, crypto.createHash('sha256').update(a.token).digest());
    assert.ok(!JSON.stringify(await tokens.list()).includes(a.token.slice(24)), 'a listing carries no secret');
    assert.equal('hash' in (await tokens.list())[0]!, false, 'nor the hash');
  });

  it('name the principal, and are compared with timingSafeEqual', async () => {
    const { token, info } = await tokens.create({ name: 'ci', role: 'operator' });
    const compare = mock.method(crypto, 'timingSafeEqual');
    try {
      assert.deepEqual(tokens.authenticate(bearer(token)), { name: 'ci', role: 'operator', tokenId: info.id });
      assert.equal(compare.mock.callCount(), 1);
      // The right id with a wrong secret is looked up, and fails the comparison.
      const wrong = `${token.slice(0, 24)}${'A'.repeat(43)}`;
      assert.equal((await refusal(() => tokens.authenticate(bearer(wrong)))).status, 401);
      assert.equal(compare.mock.callCount(), 2);
    } finally {
      compare.mock.restore();
    }
  });

  it('take the scheme in any case, as HTTP says it is (some clients send "bearer")', async () => {
    const { token } = await tokens.create({ name: 'ci', role: 'admin' });
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR'])
      assert.equal(tokens.authenticate(`${scheme} ${token}`).name, 'ci', scheme);
  });

  it('refuse what is not exactly a bearer token, with the same words for each', async () => {
    const { token } = await tokens.create({ name: 'ci', role: 'admin' });
    for (const header of [
      undefined,
      '',
      token,
      `Bearer  ${token}`,
      `Bearer ${token} `,
      `Basic ${token}`,
      `Bearer ${token}x`,
      `Bearer ${token.slice(0, -1)}`,
      `Bearer ${'a'.repeat(100_000)}`,
      `Bearer ${token.replace('kanari_', 'kanarí_')}`,
      `Bearer kanari_${'0'.repeat(16)}_${'A'.repeat(43)}`,
    ]) {
      const r = await refusal(() => tokens.authenticate(header));
      assert.equal(r.status, 401, String(header).slice(0, 50));
      assert.match(r.detail, /^missing or wrong bearer token/);
    }
  });

  it('are refused once revoked (by id or by name) and once expired, saying so to their holder only', async () => {
    const ci = await tokens.create({ name: 'ci', role: 'operator' });
    const old = await tokens.create({ name: 'old', role: 'viewer', lifetimeMs: DAY });
    assert.equal((await tokens.revoke('ci', 'alice')).revokedBy, 'alice');
    assert.match(
      (await refusal(() => tokens.authenticate(bearer(ci.token)))).detail,
      /token ci \(\w+\) was revoked at 2026-01-01/,
    );
    assert.equal(tokens.authenticate(bearer(old.token)).name, 'old');
    now += DAY;
    assert.match(
      (await refusal(() => tokens.authenticate(bearer(old.token)))).detail,
      /token old \(\w+\) expired at 2026-01-02/,
    );
    // Revoking again says when it was; the name is free for a new token.
    assert.equal((await tokens.revoke(ci.info.id)).revokedAt, Date.UTC(2026, 0, 1));
    const again = await tokens.create({ name: 'ci', role: 'viewer' });
    assert.equal(tokens.authenticate(bearer(again.token)).role, 'viewer');
    assert.equal((await tokens.revoke('ci')).id, again.info.id, 'a name means the token of that name not revoked yet');
    assert.equal((await refusal(() => tokens.revoke('nobody'))).status, 404);
  });

  it('refuse a second token of a name in use, and names that are not names', async () => {
    await tokens.create({ name: 'ci', role: 'operator' });
    const dup = await refusal(() => tokens.create({ name: 'ci', role: 'admin' }));
    assert.equal(dup.status, 409);
    assert.match(dup.detail, /a token named ci exists already: revoke it first/);
    for (const name of ['', 'a b', 'line\nbreak', '-x', 'x'.repeat(64), 'é', '0123456789abcdef'])
      assert.equal((await refusal(() => tokens.create({ name, role: 'viewer' }))).status, 400, JSON.stringify(name));
  });

  it('keep their last use to the minute, without a write per request', async () => {
    const { token, info } = await tokens.create({ name: 'ci', role: 'viewer' });
    const lastUsed = async () => (await tokens.list()).find((t) => t.id === info.id)!.lastUsedAt;
    assert.equal(await lastUsed(), undefined);
    tokens.authenticate(bearer(token));
    assert.equal(await lastUsed(), now);
    const first = now;
    now += 59_000;
    tokens.authenticate(bearer(token));
    assert.equal(await lastUsed(), first);
    now += 1000;
    tokens.authenticate(bearer(token));
    assert.equal(await lastUsed(), now);
  });

  it('take a lifetime in minutes, hours or days up to ten years, or never', async () => {
    assert.equal(parseLifetime('30d'), 30 * DAY);
    assert.equal(parseLifetime('12h'), DAY / 2);
    assert.equal(parseLifetime('90m'), 90 * 60_000);
    assert.equal(parseLifetime('3650d'), 3650 * DAY);
    assert.equal(parseLifetime('never'), undefined);
    for (const bad of ['', '0d', '30s', '3651d', '1y', '-1d', '1e3d', 'Never', '99999999999d'])
      assert.match((await refusal(() => parseLifetime(bad))).detail, /^expires must be a duration/, bad);
  });
});

describe('the token kanari up keeps in its state directory', () => {
  it('is made once as the admin token local, and kept while it works', async () => {
    const token = localToken(store.tokens, undefined, now);
    assert.equal(tokens.authenticate(bearer(token)).role, 'admin');
    assert.equal(localToken(store.tokens, token, now), token);
    assert.deepEqual(
      (await tokens.list()).map((t) => [t.name, t.role, t.expiresAt, t.revokedAt]),
      [[LOCAL_TOKEN_NAME, 'admin', undefined, undefined]],
    );
  });

  it('takes in the token of a controller from before roles as the first admin token', async () => {
    const legacy = crypto.randomBytes(24).toString('base64url');
    assert.equal(localToken(store.tokens, legacy, now), legacy);
    assert.deepEqual(tokens.authenticate(bearer(legacy)).role, 'admin');
    assert.equal(localToken(store.tokens, legacy, now), legacy);
    assert.equal((await tokens.list()).length, 1);
  });

  // The state's kanari.db removed (or lost) beside an api-token file of kanari's own format:
  // a row under any other id than the token's own is never found, so the CLI gets 401s forever.
  it('takes in a token of its own format the store does not know, under its own id', async () => {
    const elsewhere = localToken(new Store(':memory:').tokens, undefined, now);
    assert.equal(localToken(store.tokens, elsewhere, now), elsewhere);
    assert.equal(tokens.authenticate(bearer(elsewhere)).role, 'admin');
    assert.equal((await tokens.list())[0]!.id, elsewhere.slice(7, 23));
    // Its id held by another token: it could never be found, so a new one replaces it.
    const clash = `${elsewhere.slice(0, 24)}${'A'.repeat(43)}`;
    const fresh = localToken(store.tokens, clash, now);
    assert.notEqual(fresh, clash);
    assert.equal(tokens.authenticate(bearer(fresh)).role, 'admin');
  });

  it('is replaced when it was revoked, or is not an admin token, or is not a token at all', async () => {
    const first = localToken(store.tokens, undefined, now);
    await tokens.revoke(LOCAL_TOKEN_NAME);
    const second = localToken(store.tokens, first, now);
    assert.notEqual(second, first);
    assert.equal(tokens.authenticate(bearer(second)).role, 'admin');
    const viewer = (await tokens.create({ name: 'v', role: 'viewer' })).token;
    const third = localToken(store.tokens, viewer, now);
    assert.notEqual(third, viewer);
    assert.match(
      (await refusal(() => tokens.authenticate(bearer(second)))).detail,
      /revoked/,
      'one local token at a time',
    );
    assert.notEqual(localToken(store.tokens, 'not a token\n', now), 'not a token\n');
  });
});
