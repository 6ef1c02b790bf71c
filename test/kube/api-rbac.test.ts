/**
 * The operator's API with Kubernetes identities, against the test API server's TokenReview
 * and SubjectAccessReview: a ServiceAccount's token gets the role RBAC gives it in the
 * namespace of the Rollout asked about (get: viewer, patch: operator, update on the tokens
 * Secret: admin); answers are cached briefly and never for a failure; a review that is
 * late or cannot be asked is a 503, never a grant; kanari's own tokens never go to the
 * API server.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fixedCredential } from '../../src/kube/credentials.js';
import { kubeClient } from '../../src/kube/http-client.js';
import type { KubeClient, KubeObject } from '../../src/kube/api.js';
import type { Rollouts } from '../../src/server/api-core.js';
import { CLUSTER_TOKEN_HINT, createClusterApiServer } from '../../src/server/cluster-api.js';
import { clientOf, KubeAccess } from '../../src/server/kube-access.js';
import { Tokens } from '../../src/server/tokens.js';
import type { RolloutView } from '../../src/server/view.js';
import { KubernetesTokenRows, TOKENS_SECRET } from '../../src/store/kubernetes-tokens.js';
import { request } from '../helpers/http.js';
import { startCluster, type TestCluster } from '../helpers/kube/cluster.js';
import type { AccessAttributes } from '../helpers/kube/reviews.js';

let cluster: TestCluster;
let now: number;
const servers: http.Server[] = [];

/** The namespace each list was asked for (undefined: every one the operator runs). */
const listed: (string | undefined)[] = [];
/** Rollouts that answer with what was asked: the routes' roles are what is tested here. */
const echo: Rollouts = {
  views: (namespace) => {
    listed.push(namespace);
    return [];
  },
  view: (name) => ({ name }) as unknown as RolloutView,
  command: (name, command, _o, actor) => Promise.resolve({ name, command, actor } as unknown as RolloutView),
  setWeight: (name) => Promise.resolve({ name } as unknown as RolloutView),
};

const SA = 'system:serviceaccount:ci:';
/** Who may do what: the test's RBAC. */
const grants: { user: string; verb: string; resource: string; namespace: string; name?: string }[] = [];

before(async () => {
  cluster = await startCluster();
  cluster.api.reviews.identities = {
    'viewer-token-0123456789': { username: `${SA}viewer`, uid: 'u-1', groups: ['system:serviceaccounts'] },
    'operator-token-0123456789': { username: `${SA}deployer`, uid: 'u-2' },
    'admin-token-0123456789': { username: 'alice', groups: ['platform'] },
  };
  cluster.api.reviews.allow = (a: AccessAttributes) =>
    grants.some(
      (g) =>
        g.user === a.user &&
        g.verb === a.verb &&
        g.resource === a.resource &&
        g.namespace === a.namespace &&
        (g.name === undefined || g.name === a.name),
    );
});
after(async () => {
  for (const s of servers) s.close();
  await cluster.close();
});
beforeEach(() => {
  now = Date.UTC(2026, 0, 1);
  grants.length = 0;
  grants.push(
    { user: `${SA}viewer`, verb: 'get', resource: 'rollouts', namespace: 'default' },
    { user: `${SA}deployer`, verb: 'get', resource: 'rollouts', namespace: 'shop' },
    { user: `${SA}deployer`, verb: 'patch', resource: 'rollouts', namespace: 'shop' },
    { user: 'alice', verb: 'update', resource: 'secrets', namespace: 'kube-system', name: TOKENS_SECRET },
  );
  cluster.api.reviews.asked.length = 0;
  cluster.api.reviews.delayMs = 0;
});

async function serve(client: KubeClient = cluster.client, timeoutMs = 5000, audiences?: string[]): Promise<number> {
  const rows = new KubernetesTokenRows({ client, namespace: 'kube-system', log: () => {} });
  const tokens = new Tokens(rows, Date.now, CLUSTER_TOKEN_HINT);
  const access = new KubeAccess({
    client,
    tokens,
    secretNamespace: 'kube-system',
    secretName: TOKENS_SECRET,
    home: 'default',
    timeoutMs,
    now: () => now,
    ...(audiences ? { audiences } : {}),
  });
  const server = createClusterApiServer({
    rollouts: echo,
    tokens,
    authenticate: (req) => access.authenticate(req),
    log: () => {},
  }) as http.Server;
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`${what} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function call(port: number, method: string, path: string, bearer: string, body?: unknown, from?: string) {
  const r = await request(port, {
    method,
    path,
    ...(from === undefined ? {} : { localAddress: from }),
    headers: {
      authorization: `Bearer ${bearer}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.status, json: r.body ? JSON.parse(r.body) : undefined };
}

describe('Kubernetes identities on the operator API', () => {
  it('give a ServiceAccount the role RBAC gives it in the Rollout’s namespace', async () => {
    const port = await serve();
    const who = await call(port, 'GET', '/api/v1/whoami', 'viewer-token-0123456789');
    assert.deepEqual(who.json, { name: `${SA}viewer`, role: 'viewer', tokenId: 'kubernetes:u-1' });
    assert.equal((await call(port, 'GET', '/api/v1/rollouts/web', 'viewer-token-0123456789')).status, 200);
    const promote = await call(port, 'POST', '/api/v1/rollouts/web/promote', 'viewer-token-0123456789');
    assert.equal(promote.status, 403);
    // The deployer may patch in shop, and nothing in default.
    const shop = await call(port, 'POST', '/api/v1/rollouts/shop%2Fweb/promote', 'operator-token-0123456789');
    assert.deepEqual([shop.status, shop.json.actor], [200, `${SA}deployer`]);
    const home = await call(port, 'POST', '/api/v1/rollouts/web/promote', 'operator-token-0123456789');
    assert.equal(home.status, 403);
    assert.match(
      home.json.detail,
      /Kubernetes user system:serviceaccount:ci:deployer may not get rollouts\.kanari\.dev in namespace default/,
    );
    // The list of every namespace asks about every namespace: nobody here may.
    assert.equal((await call(port, 'GET', '/api/v1/rollouts', 'viewer-token-0123456789')).status, 403);
    // The SubjectAccessReview carries who the TokenReview said, groups and uid too.
    const sar = cluster.api.reviews.asked.find(
      (a) => a.kind === 'SubjectAccessReview' && a.spec.user === `${SA}viewer`,
    );
    assert.deepEqual([sar!.spec.uid, sar!.spec.groups], ['u-1', ['system:serviceaccounts']]);
  });

  it('ask about the namespace the route acts in, however the path is spelled', async () => {
    const port = await serve();
    // The viewer may get rollouts in default only: a dot segment, a backslash or an absolute target
    // resolves to a route in shop, or to the list of every namespace, and must be asked about there.
    for (const path of [
      '/api/v1/./rollouts/shop%2Fweb',
      '/x/../api/v1/rollouts/shop%2Fweb',
      '/api/v1/%2e/rollouts/shop%2Fweb',
      '/api/v1\\rollouts/shop%2Fweb',
      'http://kanari/api/v1/rollouts/shop%2Fweb',
      '/api/v1/./rollouts',
    ]) {
      const r = await call(port, 'GET', path, 'viewer-token-0123456789');
      assert.equal(r.status, 403, `${path}: ${JSON.stringify(r.json)}`);
    }
  });

  it('list one namespace for who may read only there, and say who they are and their role there', async () => {
    const port = await serve();
    const deployer = 'operator-token-0123456789';
    listed.length = 0;
    const all = await call(port, 'GET', '/api/v1/rollouts', deployer);
    assert.equal(all.status, 403);
    assert.match(all.json.detail, /in every namespace; list one namespace with \?namespace=NAMESPACE/);
    const shop = await call(port, 'GET', '/api/v1/rollouts?namespace=shop', deployer);
    assert.equal(shop.status, 200, JSON.stringify(shop.json));
    assert.deepEqual(listed, ['shop'], 'only that namespace is listed');
    assert.equal((await call(port, 'GET', '/api/v1/rollouts?namespace=default', deployer)).status, 403);
    const who = await call(port, 'GET', '/api/v1/whoami?namespace=shop', deployer);
    assert.deepEqual(who.json, { name: `${SA}deployer`, role: 'operator', tokenId: 'kubernetes:u-2' });
    const home = await call(port, 'GET', '/api/v1/whoami', deployer);
    assert.equal(home.status, 403);
    assert.match(
      home.json.detail,
      /deployer may not get rollouts\.kanari\.dev in namespace default; ask .*\?namespace=/,
    );
    // A namespace Kubernetes would not take is refused before RBAC is asked about it.
    cluster.api.reviews.asked.length = 0;
    for (const bad of ['Shop', 'a/b', '..', '', 'x'.repeat(300)]) {
      const q = encodeURIComponent(bad);
      for (const path of [`/api/v1/rollouts?namespace=${q}`, `/api/v1/whoami?namespace=${q}`]) {
        const r = await call(port, 'GET', path, deployer);
        assert.equal(r.status, 400, `${path}: ${JSON.stringify(r.json)}`);
        assert.match(r.json.detail, /namespace/);
      }
    }
    assert.deepEqual(
      cluster.api.reviews.asked.filter((a) => a.kind === 'SubjectAccessReview'),
      [],
      'no review for a namespace that cannot be',
    );
  });

  it('take, with audiences said, only a token made for one of them, and ask the API server about those', async () => {
    cluster.api.reviews.identities['kanari-audience-token-0123'] = { username: `${SA}viewer`, audiences: ['kanari'] };
    cluster.api.reviews.identities['both-audiences-token-0123'] = {
      username: `${SA}viewer`,
      audiences: ['https://kubernetes.default.svc.cluster.local', 'kanari'],
    };
    try {
      const strict = await serve(cluster.client, 5000, ['kanari', 'https://kanari.example.com']);
      assert.equal((await call(strict, 'GET', '/api/v1/rollouts/web', 'kanari-audience-token-0123')).status, 200);
      assert.equal((await call(strict, 'GET', '/api/v1/rollouts/web', 'both-audiences-token-0123')).status, 200);
      // kubectl create token's default: the API server's audience, which another service could have been sent.
      const other = await call(strict, 'GET', '/api/v1/rollouts/web', 'viewer-token-0123456789');
      assert.equal(other.status, 401);
      assert.match(
        other.json.detail,
        /nor one the Kubernetes API server accepts for the audience kanari or https:\/\/kanari\.example\.com/,
      );
      const asked = cluster.api.reviews.asked.filter((a) => a.kind === 'TokenReview').map((a) => a.spec.audiences);
      assert.deepEqual(
        new Set(asked.map((a) => JSON.stringify(a))),
        new Set(['["kanari","https://kanari.example.com"]']),
      );
      // Without audiences said: the API server's own, as before; a token made for kanari alone is not one.
      const plain = await call(await serve(), 'GET', '/api/v1/rollouts/web', 'viewer-token-0123456789');
      assert.equal(plain.status, 200);
      assert.equal(
        (await call(await serve(), 'GET', '/api/v1/rollouts/web', 'kanari-audience-token-0123')).status,
        401,
      );
    } finally {
      delete cluster.api.reviews.identities['kanari-audience-token-0123'];
      delete cluster.api.reviews.identities['both-audiences-token-0123'];
    }
  });

  it('refuse a review answered authenticated without an audience asked for: an API server that ignored them', async () => {
    const deaf = new Proxy(cluster.client, {
      get(target, key, receiver) {
        if (key !== 'create') return Reflect.get(target, key, receiver) as unknown;
        return async (o: KubeObject) => {
          const { audiences: _ignored, ...spec } = o.spec as Record<string, unknown>;
          const made = await target.create<KubeObject>({ ...o, spec });
          return o.kind === 'TokenReview' ? { ...made, status: { ...(made.status as object), audiences: [] } } : made;
        };
      },
    }) as KubeClient;
    const r = await call(await serve(deaf, 5000, ['kanari']), 'GET', '/api/v1/rollouts/web', 'viewer-token-0123456789');
    assert.equal(r.status, 401, JSON.stringify(r.json));
  });

  it('make an admin of who may update the tokens Secret, and the kanari token made works without a review', async () => {
    const port = await serve();
    const made = await call(port, 'POST', '/api/v1/tokens', 'admin-token-0123456789', { name: 'ci', role: 'operator' });
    assert.equal(made.status, 201, JSON.stringify(made.json));
    assert.equal(made.json.createdBy, 'alice');
    cluster.api.reviews.asked.length = 0;
    const who = await call(port, 'GET', '/api/v1/whoami', made.json.token);
    assert.deepEqual([who.json.name, who.json.role], ['ci', 'operator']);
    assert.equal(cluster.api.reviews.asked.length, 0, 'a kanari token never goes to the API server');
  });

  it('refuse a token the API server does not know with 401, and ask nothing for one that is not a bearer', async () => {
    const port = await serve();
    const r = await call(port, 'GET', '/api/v1/whoami', 'nobody-knows-this-token');
    assert.equal(r.status, 401);
    assert.match(r.json.detail, /neither a kanari token nor one the Kubernetes API server accepts/);
    assert.ok(!JSON.stringify(r.json).includes('nobody-knows'), 'the token is not said back');
    cluster.api.reviews.asked.length = 0;
    for (const bad of ['x'.repeat(9000), 'short', 'has space inside', '\u00e9'.repeat(20)]) {
      const refused = await call(port, 'GET', '/api/v1/whoami', bad);
      assert.equal(refused.status, 401);
      assert.match(refused.json.detail, /Bearer <token>; a kanari token \(kanari token create\), or a Kubernetes one/);
    }
    assert.equal(cluster.api.reviews.asked.length, 0);
  });

  it('keep answers 10 s, then ask again: a role taken away ends within that', async () => {
    const port = await serve();
    for (let i = 0; i < 3; i++)
      assert.equal((await call(port, 'GET', '/api/v1/rollouts/web', 'viewer-token-0123456789')).status, 200);
    const kinds = cluster.api.reviews.asked.map((a) => a.kind);
    assert.deepEqual(
      [kinds.filter((k) => k === 'TokenReview').length, kinds.filter((k) => k === 'SubjectAccessReview').length],
      [1, 3],
    );
    grants.splice(0, 1);
    assert.equal((await call(port, 'GET', '/api/v1/rollouts/web', 'viewer-token-0123456789')).status, 200);
    now += 10_000;
    assert.equal((await call(port, 'GET', '/api/v1/rollouts/web', 'viewer-token-0123456789')).status, 403);
  });

  it('answer 503 with the reason for a review that is late or cannot be asked, and keep no failure', async () => {
    const port = await serve(cluster.client, 200);
    cluster.api.reviews.delayMs = 1000;
    const late = await call(port, 'GET', '/api/v1/rollouts/web', 'viewer-token-0123456789');
    assert.equal(late.status, 503);
    assert.match(late.json.detail, /did not answer a TokenReview within 0\.2 s/);
    cluster.api.reviews.delayMs = 0;
    assert.equal((await call(port, 'GET', '/api/v1/rollouts/web', 'viewer-token-0123456789')).status, 200);
    const away = kubeClient({
      server: 'http://127.0.0.1:1',
      namespace: 'default',
      tls: { insecure: false },
      credentials: fixedCredential({}),
      origin: 'nowhere',
    });
    const port2 = await serve(away);
    const r = await call(port2, 'GET', '/api/v1/rollouts/web', 'viewer-token-0123456789');
    assert.equal(r.status, 503);
    assert.match(r.json.detail, /could not answer a TokenReview: /);
    away.close();
  });
  it('count a review given up on until the API server answers it: at most 32 are asked at once, 8 for one client', async () => {
    const port = await serve(cluster.client, 200);
    cluster.api.reviews.delayMs = 3000;
    // Five clients (addresses of 127.0.0.0/8), eight made-up tokens each.
    const flood = (from: number) =>
      Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          call(
            port,
            'GET',
            '/api/v1/whoami',
            `made-up-token-${from + i}-0123456789`,
            undefined,
            `127.0.0.${1 + (i % 5)}`,
          ),
        ),
      );
    assert.deepEqual(new Set((await flood(0)).map((r) => r.status)), new Set([503]));
    assert.equal(cluster.api.reviews.asked.length, 32);
    // The 32 reviews still wait on the API server: 40 more made-up tokens ask it nothing.
    const again = await flood(100);
    assert.deepEqual(new Set(again.map((r) => r.status)), new Set([503]));
    assert.match(again[0]!.json.detail, /too many Kubernetes reviews waiting/);
    assert.equal(cluster.api.reviews.asked.length, 32);
  });

  it('keep one client from taking every review: another still gets in', async () => {
    const port = await serve(cluster.client, 5000);
    cluster.api.reviews.delayMs = 1000;
    const flood = Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        call(port, 'GET', '/api/v1/whoami', `made-up-token-${i}-0123456789`, undefined, '127.0.0.7'),
      ),
    );
    await until('the flood is being reviewed', () => cluster.api.reviews.asked.length > 0);
    const other = await call(port, 'GET', '/api/v1/rollouts/web', 'viewer-token-0123456789', undefined, '127.0.0.8');
    assert.equal(other.status, 200, JSON.stringify(other.json));
    const refused = (await flood).filter((r) => r.status === 503);
    assert.equal(refused.length, 32, 'one client has 8 reviews at once, no more');
    assert.match(refused[0]!.json.detail, /too many Kubernetes reviews waiting for this client \(8\)/);
  });
});

describe('the client a review is counted against', () => {
  it('is the peer’s address, an IPv6 one by its /64, an IPv4-mapped one as IPv4', () => {
    const of = (remoteAddress: string) => clientOf({ socket: { remoteAddress } } as never);
    assert.equal(of('10.1.2.3'), '10.1.2.3');
    assert.equal(of('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(of('2001:db8:0:1:aaaa::1'), '2001:db8:0:1::/64');
    assert.equal(of('2001:DB8:0000:1:ffff:1:2:3'), of('2001:db8::1:0:0:0:9'));
    assert.equal(of('::1'), '0:0:0:0::/64');
    assert.equal(of('fe80::1%eth0'), 'fe80:0:0:0::/64');
  });
});

describe('the test API server’s reviews', () => {
  it('answer as the real one: 201 and the status, 422 for a review without a subject, 405 for a read', async () => {
    const made = await cluster.client.create<KubeObject>({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      metadata: { name: '' },
      spec: { token: 'viewer-token-0123456789' },
    });
    assert.deepEqual(made.status, {
      authenticated: true,
      user: { username: `${SA}viewer`, uid: 'u-1', groups: ['system:serviceaccounts'] },
      audiences: [],
    });
    await assert.rejects(
      cluster.client.create({
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        metadata: { name: '' },
        spec: { resourceAttributes: { verb: 'get' } },
      }),
      /at least one of user or group must be specified/,
    );
    const read = await request(Number(new URL(cluster.api.url).port), {
      path: '/apis/authorization.k8s.io/v1/subjectaccessreviews/x',
    });
    assert.equal(read.status, 405);
  });
});
