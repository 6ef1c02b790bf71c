/**
 * Single sign-on on the operator's API, against a real OpenID Connect provider process and
 * the test API server: two replicas behind one address (a proxy standing for their Service)
 * that sends every sign-in's start to one replica and its callback to the other. The flow
 * lives in its cookie, sealed with the key both read from the sessions Secret, so the
 * callback is finished where it lands and the session works on both; a flow cookie changed,
 * or sealed under another key, is refused as a flow this browser did not start.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ClusterRollouts } from '../../src/cli/operator-api.js';
import { createClusterApiServer } from '../../src/server/cluster-api.js';
import { OidcSignIn, oidcSettings, SealedFlows } from '../../src/server/oidc.js';
import { Sessions } from '../../src/server/sessions.js';
import { Tokens } from '../../src/server/tokens.js';
import { FLOW_KEY, KubernetesSessionRows, SESSIONS_SECRET } from '../../src/store/kubernetes-sessions.js';
import { KubernetesTokenRows } from '../../src/store/kubernetes-tokens.js';
import { startCluster, type TestCluster } from '../helpers/kube/cluster.js';
import { FetchBrowser, startProvider, type ProviderProcess } from '../helpers/oidc.js';
import { CLIENT_ID, CLIENT_SECRET } from '../helpers/oidc-provider-process.js';

let cluster: TestCluster;
let provider: ProviderProcess;
const replicas: http.Server[] = [];
const ports: number[] = [];
let front: http.Server;
let base: string;
const logged: string[] = [];
/** Which replica answered each request, as `i path`. */
const served: string[] = [];

/** The replica a request goes to: sign-ins start on 0 and come back to 1; the rest alternate. */
let turn = 0;
function replicaFor(path: string): number {
  if (path.startsWith('/auth/oidc/start')) return 0;
  if (path.startsWith('/auth/oidc/callback')) return 1;
  return turn++ % 2;
}

function replica(redirectUrl: string): http.Server {
  const o = { client: cluster.client, namespace: 'default', log: (l: string) => logged.push(l), maxAgeMs: 1000 };
  const tokenRows = new KubernetesTokenRows(o);
  const rows = new KubernetesSessionRows(o);
  const settings = oidcSettings.parse({
    issuer: provider.issuer,
    clientId: CLIENT_ID,
    redirectUrl,
    roleClaim: 'groups',
    scopes: ['openid', 'email', 'groups'],
    roles: { admin: ['platform'], operator: ['devs'], viewer: ['readers'] },
  });
  // One OidcSignIn per replica, as separate processes have: nothing shared but the Secret.
  const oidc = new OidcSignIn(settings, CLIENT_SECRET, {
    allowInsecureRequestsForTests: true,
    flows: new SealedFlows(() => rows.flowKey()),
  });
  return createClusterApiServer({
    rollouts: new ClusterRollouts({ client: cluster.client, home: 'default', origin: 'the test API server' }),
    tokens: new Tokens(tokenRows),
    browser: { sessions: new Sessions(rows, tokenRows), oidc },
    log: (l) => logged.push(l),
  }) as http.Server;
}

before(async () => {
  cluster = await startCluster();
  front = http.createServer((req, res) => {
    const i = replicaFor(req.url ?? '/');
    served.push(`${i} ${req.url}`);
    const out = http.request(
      { host: '127.0.0.1', port: ports[i], path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(out);
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  provider = await startProvider(`${base}/auth/oidc/callback`);
  for (let i = 0; i < 2; i++) {
    const server = replica(`${base}/auth/oidc/callback`);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    replicas.push(server);
    ports.push((server.address() as AddressInfo).port);
  }
});

after(async () => {
  for (const s of replicas) s.close();
  front?.close();
  await provider?.stop();
  await cluster?.close();
});

const refusal = (res: Response) => /sign-in-error=([a-z-]+)$/.exec(res.headers.get('location') ?? '')?.[1];

describe('single sign-on on the operator', () => {
  it('finishes on one replica a sign-in started on the other, and the session works on both', async () => {
    const browser = new FetchBrowser();
    const callback = await browser.throughProvider(`${base}/auth/oidc/start`, 'bob');
    assert.ok(browser.cookie(base, 'kanari_oidc'), 'a flow cookie');
    const landed = await browser.get(callback);
    assert.equal(landed.status, 303, await landed.text());
    assert.equal(landed.headers.get('location'), '/');
    assert.ok(served.includes(`0 /auth/oidc/start`) && served.some((s) => s.startsWith('1 /auth/oidc/callback')));
    for (let n = 0; n < 2; n++) {
      const s = await browser.get(`${base}/auth/session`);
      assert.equal(s.status, 200);
      const session = (await s.json()) as { actor: string; role: string; via: string };
      assert.deepEqual([session.actor, session.role, session.via], ['oidc:bob@example.test', 'operator', 'oidc']);
    }
    assert.ok(served.at(-1)!.startsWith('1 ') && served.at(-2)!.startsWith('0 '), served.slice(-2).join(', '));
    const key = (cluster.api.get('v1', 'Secret', 'default', SESSIONS_SECRET)?.data as Record<string, string>)[FLOW_KEY];
    assert.equal(Buffer.from(key!, 'base64').length, 32, 'one key, in the Secret');
  });

  it('refuses a flow cookie that was changed or sealed under another key', async () => {
    const browser = new FetchBrowser();
    const callback = await browser.throughProvider(`${base}/auth/oidc/start`, 'alice');
    const flow = browser.cookie(base, 'kanari_oidc')!;
    const changed = `${flow.slice(0, 40)}${flow[40] === 'A' ? 'B' : 'A'}${flow.slice(41)}`;
    const other = await new SealedFlows(() => Promise.resolve(Buffer.alloc(32, 7))).keep({
      state: callback.searchParams.get('state')!,
      nonce: 'n',
      verifier: 'v',
      expiresAt: Date.now() + 60_000,
    });
    for (const cookie of [changed, other, 'x'.repeat(2000)]) {
      const res = await new FetchBrowser().get(callback, { headers: { cookie: `kanari_oidc=${cookie}` } });
      assert.equal(res.status, 303);
      assert.equal(refusal(res), 'flow');
    }
    // The cookie as sealed still finishes it: what was refused was the change.
    const res = await browser.get(callback);
    assert.equal(res.headers.get('location'), '/');
  });
});
