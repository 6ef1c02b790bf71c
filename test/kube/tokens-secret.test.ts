/**
 * The API's tokens kept in a Secret, against the test API server: two replicas (two
 * `Tokens` over two `KubernetesTokenRows`) share one Secret; a token made on one works on
 * the other, a revocation on one is refused by the other within the cache's age, writes
 * that race are each kept, a row edited into garbage is ignored (and logged) while the
 * others work, and an API server that cannot be reached ends in a 503, never a grant.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { KubeError, type KubeClient } from '../../src/kube/api.js';
import { Tokens } from '../../src/server/tokens.js';
import { KubernetesTokenRows, TOKENS_SECRET } from '../../src/store/kubernetes-tokens.js';
import { startCluster, type TestCluster } from '../helpers/kube/cluster.js';
import { refusal } from '../helpers/refusal.js';

let cluster: TestCluster;
let secretName: string;
let now: number;
let broken: boolean;
let logs: string[];
/** Writes of the Secret the replicas asked for, conflicts included. */
let writes: number;

before(async () => {
  cluster = await startCluster();
});
after(() => cluster.close());

let counter = 0;
beforeEach(() => {
  // Each test has a Secret of its own, so none sees another's tokens.
  secretName = `${TOKENS_SECRET}-${++counter}`;
  now = Date.UTC(2026, 0, 1);
  broken = false;
  logs = [];
  writes = 0;
});

/** The test API server, or one that cannot be reached while `broken`. */
function client(): KubeClient {
  const unreachable = () => new KubeError(0, 'Unreachable', 'connect ECONNREFUSED 10.0.0.1:443');
  const real = cluster.client;
  return {
    ...real,
    get: (ref) => (broken ? Promise.reject(unreachable()) : real.get(ref)),
    replace: (o) => (writes++, broken ? Promise.reject(unreachable()) : real.replace(o)),
    create: (o) => (broken ? Promise.reject(unreachable()) : real.create(o)),
  };
}

function replica(): { rows: KubernetesTokenRows; tokens: Tokens } {
  const rows = new KubernetesTokenRows({
    client: client(),
    namespace: 'default',
    name: secretName,
    log: (line) => logs.push(line),
    now: () => now,
  });
  return { rows, tokens: new Tokens(rows, () => now) };
}

const bearer = (token: string) => `Bearer ${token}`;
const secret = () => cluster.api.get('v1', 'Secret', 'default', secretName);
/** The Secret as a client reads it, to edit by hand. */
const secretRead = async () =>
  (await cluster.client.get<any>({ apiVersion: 'v1', kind: 'Secret', namespace: 'default', name: secretName }))!;

describe('tokens in a Secret', () => {
  it('keep only the hash, one key per token id, and a token made on one replica works on another', async () => {
    const a = replica();
    const b = replica();
    const made = await a.tokens.create({ name: 'ci', role: 'operator', by: 'alice' });
    const stored = secret();
    assert.deepEqual(Object.keys(stored!.data), [made.info.id]);
    assert.equal(stored!.type, 'Opaque');
    const text = Buffer.from(stored!.data[made.info.id], 'base64').toString();
    assert.ok(!text.includes(made.token.slice(24)), 'the secret part is nowhere in the Secret');
    assert.deepEqual(Object.keys(JSON.parse(text)).sort(), ['createdAt', 'createdBy', 'name', 'role', 'sha256']);
    // b has never read the Secret: the id it does not know makes it read.
    assert.deepEqual(await b.tokens.authenticateCurrent(bearer(made.token)), {
      name: 'ci',
      role: 'operator',
      tokenId: made.info.id,
    });
    assert.deepEqual(
      (await b.tokens.list()).map((t) => [t.name, t.role, t.createdBy]),
      [['ci', 'operator', 'alice']],
    );
  });

  it('are refused on every replica once the cache is older than its bound after a revocation', async () => {
    const a = replica();
    const b = replica();
    const made = await a.tokens.create({ name: 'ci', role: 'admin' });
    assert.equal((await b.tokens.authenticateCurrent(bearer(made.token))).name, 'ci');
    await a.tokens.revoke('ci', 'alice');
    now += 5000;
    const r = await refusal(() => b.tokens.authenticateCurrent(bearer(made.token)));
    assert.equal(r.status, 401);
    assert.match(r.detail, /token ci \(\w+\) was revoked/);
    // Revoking from b again says when a did it.
    assert.equal((await b.tokens.revoke(made.info.id)).revokedBy, 'alice');
  });

  it('made at the same time on two replicas are all kept: each write is at the version read', async () => {
    const a = replica();
    const b = replica();
    const names = Array.from({ length: 8 }, (_, i) => `bot-${i}`);
    await Promise.all(names.map((name, i) => (i % 2 ? a : b).tokens.create({ name, role: 'viewer' })));
    // a last wrote before b's last writes: it reads them once its read is as old as the bound.
    now += 5000;
    assert.deepEqual((await a.tokens.list()).map((t) => t.name).sort(), names);
    assert.equal(Object.keys(secret()!.data).length, 8);
  });

  it('refuse a name in use on another replica, and keep last use without losing a revocation', async () => {
    const a = replica();
    const b = replica();
    const made = await a.tokens.create({ name: 'ci', role: 'operator' });
    assert.equal((await refusal(() => b.tokens.create({ name: 'ci', role: 'admin' }))).status, 409);
    await b.tokens.authenticateCurrent(bearer(made.token));
    await a.tokens.revoke('ci');
    // b's write of last use (not waited for) raced the revocation on a: both end up there.
    const row = () => JSON.parse(Buffer.from(secret()!.data[made.info.id], 'base64').toString());
    for (let waited = 0; row().lastUsedAt === undefined && waited < 10_000; waited += 20)
      await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(row().lastUsedAt, now);
    assert.equal(row().revokedAt, now);
  });

  it('write a token’s last use once for the requests that come with it at once', async () => {
    const a = replica();
    const made = await a.tokens.create({ name: 'web', role: 'viewer' });
    writes = 0;
    // A dashboard's requests arrive together, each a millisecond after the one before.
    await Promise.all([1, 2, 3, 4, 5].map((ms) => a.rows.touch(made.info.id, now + ms)));
    assert.equal(writes, 1);
    assert.ok(a.rows.byId(made.info.id)!.lastUsedAt! > now);
  });

  it('keep a token made, and revoked, by a Kubernetes user whose name is long', async () => {
    const a = replica();
    // A ServiceAccount's user name runs to 339 characters: a namespace of 63 and a name of 253.
    const sa = `system:serviceaccount:${'n'.repeat(63)}:${'s'.repeat(253)}`;
    const made = await a.tokens.create({ name: 'ci', role: 'operator', by: sa });
    assert.equal((await a.tokens.authenticateCurrent(bearer(made.token))).name, 'ci');
    // One longer than any a read takes back is cut to what it takes.
    await a.tokens.revoke('ci', `oidc:${'o'.repeat(2000)}`);
    const listed = await replica().tokens.list();
    assert.deepEqual(
      listed.map((t) => [t.name, t.createdBy, t.revokedBy?.length]),
      [['ci', sa, 1024]],
    );
    assert.deepEqual(logs, []);
  });

  it('ignore a row edited by hand into garbage, say so once, and keep the others', async () => {
    const a = replica();
    const good = await a.tokens.create({ name: 'ci', role: 'viewer' });
    const current = await secretRead();
    const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64');
    const row = JSON.parse(Buffer.from(current.data[good.info.id], 'base64').toString());
    await cluster.client.replace({
      ...current,
      data: {
        ...current.data,
        'not-an-id': b64(row),
        '00000000000000aa': b64('{not json'),
        '00000000000000bb': b64({ ...row, role: 'root' }),
        '00000000000000cc': b64({ ...row, sha256: 'short' }),
        '00000000000000dd': '%%%',
      },
    });
    const b = replica();
    assert.equal((await b.tokens.authenticateCurrent(bearer(good.token))).name, 'ci');
    assert.deepEqual(
      (await b.tokens.list()).map((t) => t.id),
      [good.info.id],
    );
    assert.equal(logs.length, 5, logs.join('\n'));
    assert.ok(logs.some((l) => /key "00000000000000bb" is ignored: role:/.test(l)));
    assert.ok(!logs.join('\n').includes(row.sha256), 'what a key held is not logged');
    // A replica that writes keeps the garbage as it is: it is a person's to fix.
    await b.tokens.create({ name: 'other', role: 'viewer' });
    assert.equal(Object.keys(secret()!.data).length, 7);
    now += 5000;
    await b.tokens.list();
    assert.equal(logs.length, 5, 'each said once');
  });

  it('refuse to revoke by a name two tokens have after a hand edit, rather than leave one working', async () => {
    const a = replica();
    const first = await a.tokens.create({ name: 'ci', role: 'operator' });
    const second = await a.tokens.create({ name: 'ci-2', role: 'operator' });
    const current = await secretRead();
    const row = JSON.parse(Buffer.from(current.data[second.info.id], 'base64').toString());
    const renamed = Buffer.from(JSON.stringify({ ...row, name: 'ci' })).toString('base64');
    await cluster.client.replace({ ...current, data: { ...current.data, [second.info.id]: renamed } });
    now += 5000;
    const r = await refusal(() => a.tokens.revoke('ci', 'alice'));
    assert.equal(r.status, 409);
    assert.match(r.detail, /^2 tokens are named ci \(.*\): revoke each by its id$/);
    for (const id of [first.info.id, second.info.id]) assert.ok(r.detail.includes(id), r.detail);
    for (const made of [first, second])
      assert.equal((await a.tokens.authenticateCurrent(bearer(made.token))).name, 'ci');
    await a.tokens.revoke(second.info.id, 'alice');
    assert.equal((await a.tokens.revoke('ci', 'alice')).id, first.info.id);
  });

  it('serve the last read while the API server is away, then refuse with a 503 that says why', async () => {
    const a = replica();
    const made = await a.tokens.create({ name: 'ci', role: 'viewer' });
    broken = true;
    now += 10_000;
    assert.equal((await a.tokens.authenticateCurrent(bearer(made.token))).name, 'ci');
    now += 30_000;
    const r = await refusal(() => a.tokens.authenticateCurrent(bearer(made.token)));
    assert.equal(r.status, 503);
    assert.match(
      r.detail,
      /cannot read the API's tokens \(Secret default\/kanari-api-tokens-\d+\): connect ECONNREFUSED/,
    );
    const w = await refusal(() => a.tokens.create({ name: 'x', role: 'viewer' }));
    assert.equal(w.status, 503);
    assert.ok(!r.detail.includes(made.token) && !w.detail.includes(made.token));
    assert.equal(logs.filter((l) => /cannot read the tokens Secret/.test(l)).length, 1, 'said once, not per request');
    broken = false;
    now += 1000;
    assert.equal((await a.tokens.authenticateCurrent(bearer(made.token))).name, 'ci');
    assert.match(logs.at(-1)!, /can be read again/);
  });

  it('look nothing up for a bearer that is not a token, however large, and read at most once a second for ids not known', async () => {
    const a = replica();
    let reads = 0;
    const counting = new KubernetesTokenRows({
      client: { ...client(), get: (ref) => (reads++, cluster.client.get(ref)) },
      namespace: 'default',
      name: secretName,
      log: () => {},
      now: () => now,
    });
    const tokens = new Tokens(counting, () => now);
    await a.tokens.create({ name: 'ci', role: 'viewer' });
    for (const header of [`Bearer ${'a'.repeat(1_000_000)}`, 'Bearer \u0000', 'Basic x', ''])
      assert.equal((await refusal(() => tokens.authenticateCurrent(header))).status, 401);
    assert.equal(reads, 0);
    for (let i = 0; i < 20; i++) {
      const made_up = `kanari_${i.toString(16).padStart(16, '0')}_${'A'.repeat(43)}`;
      assert.equal((await refusal(() => tokens.authenticateCurrent(bearer(made_up)))).status, 401);
    }
    assert.equal(reads, 1);
  });
});
