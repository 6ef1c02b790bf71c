import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KubeConflict, KubeError, type KubeObject } from '../../src/kube/api.js';
import { fixedCredential, type CredentialSource } from '../../src/kube/credentials.js';
import { kubeClient } from '../../src/kube/http-client.js';
import type { KubeConnection } from '../../src/kube/kubeconfig.js';
import { makeTestCerts, type TestCerts } from '../helpers/kube/certs.js';
import {
  sendJson,
  sendStatus,
  startScriptedServer,
  type Received,
  type ScriptedServer,
} from '../helpers/kube/scripted-server.js';
import http, { type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

function connection(server: string, extra: Partial<KubeConnection> = {}): KubeConnection {
  return {
    server,
    namespace: 'shop',
    tls: { insecure: false },
    credentials: fixedCredential({ token: 'tok' }),
    origin: 'test',
    ...extra,
  };
}

const CORE = {
  kind: 'APIResourceList',
  groupVersion: 'v1',
  resources: [
    { name: 'configmaps', kind: 'ConfigMap', namespaced: true },
    { name: 'namespaces', kind: 'Namespace', namespaced: false },
    { name: 'namespaces/status', kind: 'Namespace', namespaced: false },
  ],
};
const KANARI = {
  kind: 'APIResourceList',
  groupVersion: 'kanari.dev/v1alpha1',
  resources: [
    { name: 'rollouts', kind: 'Rollout', namespaced: true },
    { name: 'rollouts/status', kind: 'Rollout', namespaced: true },
  ],
};
const cm = (name: string, rv = '5'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'shop', resourceVersion: rv },
  data: { a: '1' },
});

/** A tiny API: discovery (the kanari.dev group once `crdInstalled`), and ConfigMaps whose answers the routes say. */
function api(state: { crdInstalled: boolean }) {
  return (req: Received, res: ServerResponse) => {
    const path = req.url.split('?')[0];
    if (path === '/api/v1') return sendJson(res, 200, CORE);
    if (path === '/apis/kanari.dev/v1alpha1') {
      return state.crdInstalled
        ? sendJson(res, 200, KANARI)
        : sendStatus(res, 404, 'NotFound', 'the server could not find the requested resource');
    }
    const route = `${req.method} ${path}`;
    switch (route) {
      case 'GET /api/v1/namespaces/shop/configmaps/web':
        return sendJson(res, 200, cm('web'));
      case 'GET /api/v1/namespaces/shop/configmaps/gone':
        return sendStatus(res, 404, 'NotFound', 'configmaps "gone" not found');
      case 'GET /api/v1/configmaps':
        return sendJson(res, 200, {
          kind: 'ConfigMapList',
          apiVersion: 'v1',
          metadata: { resourceVersion: '42' },
          items: [{ metadata: { name: 'a', namespace: 'x', resourceVersion: '7' } }],
        });
      case 'POST /api/v1/namespaces/shop/configmaps':
        return JSON.parse(req.body).metadata.name === 'web'
          ? sendStatus(res, 409, 'AlreadyExists', 'configmaps "web" already exists')
          : sendJson(res, 201, {
              ...JSON.parse(req.body),
              metadata: { ...JSON.parse(req.body).metadata, resourceVersion: '6' },
            });
      case 'PUT /api/v1/namespaces/shop/configmaps/web':
        return JSON.parse(req.body).metadata.resourceVersion === '5'
          ? sendJson(res, 200, cm('web', '6'))
          : sendStatus(
              res,
              409,
              'Conflict',
              'Operation cannot be fulfilled on configmaps "web": the object has been modified; please apply your changes to the latest version and try again',
            );
      case 'PUT /api/v1/namespaces/ns/status':
      case 'PATCH /apis/kanari.dev/v1alpha1/namespaces/shop/rollouts/web':
      case 'PATCH /apis/kanari.dev/v1alpha1/namespaces/shop/rollouts/web/status':
        return sendJson(res, 200, { apiVersion: 'x', kind: 'y', metadata: { name: 'web' } });
      case 'DELETE /api/v1/namespaces/shop/configmaps/web':
        return sendJson(res, 200, { kind: 'Status', status: 'Success' });
      case 'DELETE /api/v1/namespaces/shop/configmaps/gone':
        return sendStatus(res, 404, 'NotFound', 'configmaps "gone" not found');
      case 'GET /api/v1/namespaces/shop/configmaps/forbidden':
        return sendStatus(
          res,
          403,
          'Forbidden',
          'configmaps "forbidden" is forbidden: User "kanari" cannot get resource "configmaps" in the namespace "shop"',
        );
      case 'GET /api/v1/namespaces/shop/configmaps/html':
        res.writeHead(502, { 'content-type': 'text/html' });
        return res.end('<html><body><h1>502 Bad Gateway</h1>\n</body></html>');
      case 'GET /api/v1/namespaces/shop/configmaps/text':
        return res.end('hello, not JSON');
      case 'GET /api/v1/namespaces/shop/configmaps/huge':
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(`{"metadata":{"name":"huge"},"data":"${'x'.repeat(2 * 1024 * 1024)}"}`);
      case 'GET /api/v1/namespaces/shop/configmaps/silent':
        return; // never answers
      default:
        return sendStatus(res, 404, 'NotFound', `no route ${route}`);
    }
  };
}

async function rejection(promise: Promise<unknown>): Promise<KubeError> {
  const err = await promise.then(
    () => assert.fail('expected a KubeError'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof KubeError, `not a KubeError: ${String(err)}`);
  assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
  return err;
}

describe('the HTTP KubeClient', () => {
  let certs: TestCerts;
  let server: ScriptedServer;
  const state = { crdInstalled: false };
  before(async () => {
    certs = makeTestCerts();
    server = await startScriptedServer(api(state), {
      cert: certs.serverCert,
      key: certs.serverKey,
      clientCa: certs.ca,
    });
  });
  after(() => server.close());
  const tls = () => ({ ca: certs.ca, insecure: false });
  const mtls = () => fixedCredential({ token: 'tok', cert: certs.clientCert, key: certs.clientKey });

  it('reads, lists, creates, replaces, patches and deletes over HTTPS with a client certificate and a token', async () => {
    const client = kubeClient(connection(server.url, { tls: tls(), credentials: mtls() }));
    server.received.length = 0;
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'web' };
    assert.equal(
      (await client.get(ref))?.metadata.resourceVersion,
      '5',
      'the connection namespace when the ref has none',
    );
    assert.equal(await client.get({ ...ref, name: 'gone', namespace: 'shop' }), undefined);
    const list = await client.list('v1', 'ConfigMap', undefined, { labelSelector: 'kanari.dev/rollout=web' });
    assert.deepEqual(list, {
      resourceVersion: '42',
      items: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'x', resourceVersion: '7' } }],
    });
    assert.equal((await client.create(cm('new'))).metadata.resourceVersion, '6');
    const exists = await rejection(client.create(cm('web')));
    assert.ok(exists instanceof KubeConflict);
    assert.equal(exists.reason, 'AlreadyExists');
    assert.equal((await client.replace(cm('web', '5'))).metadata.resourceVersion, '6');
    const stale = await rejection(client.replace(cm('web', '4')));
    assert.ok(stale instanceof KubeConflict && stale.reason === 'Conflict', 'a stale write is a KubeConflict');
    await client.replace(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns', resourceVersion: '1' } },
      { status: true },
    );
    const rollout = { apiVersion: 'kanari.dev/v1alpha1', kind: 'Rollout', name: 'web' };
    state.crdInstalled = true; // installed after the client started: found by reading discovery again
    await client.patch(rollout, 'merge', { spec: { paused: true } });
    await client.patch(rollout, 'json', [{ op: 'replace', path: '/spec/paused', value: false }], {
      fieldManager: 'kanari',
    });
    await client.patch(
      rollout,
      'apply',
      { apiVersion: 'kanari.dev/v1alpha1', kind: 'Rollout', status: {} },
      { fieldManager: 'kanari', force: true, status: true },
    );
    assert.equal(
      await client.delete(
        { ...ref, namespace: 'shop' },
        { preconditions: { resourceVersion: '6' }, propagationPolicy: 'Background' },
      ),
      true,
    );
    assert.equal(await client.delete({ ...ref, name: 'gone' }), false);

    const seen = server.received.map(
      (r) => `${r.method} ${r.url}${r.headers['content-type'] ? ` ${r.headers['content-type']}` : ''}`,
    );
    assert.deepEqual(seen, [
      'GET /api/v1',
      'GET /api/v1/namespaces/shop/configmaps/web',
      'GET /api/v1/namespaces/shop/configmaps/gone',
      'GET /api/v1/configmaps?labelSelector=kanari.dev%2Frollout%3Dweb',
      'POST /api/v1/namespaces/shop/configmaps application/json',
      'POST /api/v1/namespaces/shop/configmaps application/json',
      'PUT /api/v1/namespaces/shop/configmaps/web application/json',
      'PUT /api/v1/namespaces/shop/configmaps/web application/json',
      'PUT /api/v1/namespaces/ns/status application/json',
      'GET /apis/kanari.dev/v1alpha1',
      'PATCH /apis/kanari.dev/v1alpha1/namespaces/shop/rollouts/web application/merge-patch+json',
      'PATCH /apis/kanari.dev/v1alpha1/namespaces/shop/rollouts/web?fieldManager=kanari application/json-patch+json',
      'PATCH /apis/kanari.dev/v1alpha1/namespaces/shop/rollouts/web/status?fieldManager=kanari&force=true application/apply-patch+yaml',
      'DELETE /api/v1/namespaces/shop/configmaps/web application/json',
      'DELETE /api/v1/namespaces/shop/configmaps/gone application/json',
    ]);
    assert.ok(server.received.every((r) => r.headers.authorization === 'Bearer tok' && r.clientCert === 'kanari-test'));
    assert.deepEqual(JSON.parse(server.received.at(-2)!.body), {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      preconditions: { resourceVersion: '6' },
      propagationPolicy: 'Background',
    });
    client.close();
  });

  it('finds kinds by discovery, reading a group-version again only when a kind is missing', async () => {
    state.crdInstalled = false;
    const client = kubeClient(connection(server.url, { tls: tls(), credentials: mtls() }));
    server.received.length = 0;
    assert.equal(await client.resource('kanari.dev/v1alpha1', 'Rollout'), undefined);
    assert.deepEqual(await client.resource('v1', 'Namespace'), {
      apiVersion: 'v1',
      kind: 'Namespace',
      plural: 'namespaces',
      namespaced: false,
      subresources: ['status'],
    });
    await client.resource('v1', 'ConfigMap');
    assert.equal(server.received.filter((r) => r.url === '/api/v1').length, 1, 'cached per group-version');
    state.crdInstalled = true;
    assert.deepEqual(await client.resource('kanari.dev/v1alpha1', 'Rollout'), {
      apiVersion: 'kanari.dev/v1alpha1',
      kind: 'Rollout',
      plural: 'rollouts',
      namespaced: true,
      subresources: ['status'],
    });
    const missing = await rejection(client.get({ apiVersion: 'v1', kind: 'Secret', name: 'x' }));
    assert.equal(missing.status, 404);
    assert.equal(missing.message, 'the API server does not serve Secret (v1); is its CRD installed?');
    assert.equal(server.received.filter((r) => r.url === '/api/v1').length, 2, 'read again once for the missing kind');
    assert.equal((await rejection(client.resource('bad version', 'X'))).reason, 'BadRequest');
    client.close();
  });

  it("turns refusals into KubeErrors with the server's message, and a body it cannot use into a clear one", async () => {
    const client = kubeClient(connection(server.url, { tls: tls(), credentials: mtls() }), {
      maxBodyBytes: 1024 * 1024,
      timeoutMs: 500,
    });
    const get = (name: string) => client.get({ apiVersion: 'v1', kind: 'ConfigMap', name });
    const forbidden = await rejection(get('forbidden'));
    assert.deepEqual([forbidden.status, forbidden.reason], [403, 'Forbidden']);
    assert.match(forbidden.message, /^configmaps "forbidden" is forbidden: User "kanari" cannot get/);
    const html = await rejection(get('html'));
    assert.deepEqual([html.status, html.reason], [502, 'Unknown']);
    assert.equal(
      html.message,
      'GET /api/v1/namespaces/shop/configmaps/html: HTTP 502 from the API server: <html><body><h1>502 Bad Gateway</h1> </body></html>',
    );
    const text = await rejection(get('text'));
    assert.deepEqual([text.status, text.reason], [0, 'InvalidResponse']);
    assert.match(text.message, /answered something other than JSON: hello, not JSON$/);
    const huge = await rejection(get('huge'));
    assert.equal(
      huge.message,
      "GET /api/v1/namespaces/shop/configmaps/huge: the API server's answer is larger than 1 MB",
    );
    const silent = await rejection(get('silent'));
    assert.deepEqual([silent.status, silent.reason], [0, 'Timeout']);
    assert.equal(
      silent.message,
      'GET /api/v1/namespaces/shop/configmaps/silent: no complete answer from the API server within 0.5 s',
    );
    client.close();
  });

  it('says in a few words when the server cannot be reached or its certificate is not trusted', async () => {
    const closed = await startScriptedServer(() => {});
    await closed.close();
    const refused = await rejection(kubeClient(connection(closed.url)).resource('v1', 'Pod'));
    assert.deepEqual([refused.status, refused.reason], [0, 'Unreachable']);
    assert.equal(
      refused.message,
      `cannot reach the API server at ${closed.url}: connect ECONNREFUSED ${closed.url.slice(7)} (ECONNREFUSED)`,
    );
    const untrusted = await rejection(
      kubeClient(connection(server.url, { tls: { ca: certs.otherCa, insecure: false }, credentials: mtls() })).resource(
        'v1',
        'Pod',
      ),
    );
    assert.match(untrusted.message, /^cannot reach the API server at https:\/\/127\.0\.0\.1:\d+: .*certificate/);
    const anonymous = await rejection(kubeClient(connection(server.url, { tls: tls() })).resource('v1', 'Pod'));
    // Usually OpenSSL's alert in its words; the server may also close first (a reset). Never OpenSSL's codes and paths.
    assert.match(anonymous.message, /^cannot reach the API server at https:\/\/127\.0\.0\.1:\d+: [^:]+$/);
    const named = kubeClient(
      connection(server.url, { tls: { ca: certs.ca, insecure: false, serverName: 'kube.test' }, credentials: mtls() }),
    );
    assert.ok(await named.resource('v1', 'ConfigMap'), 'tls-server-name is the name checked');
    named.close();
    const insecure = kubeClient(connection(server.url, { tls: { insecure: true }, credentials: mtls() }));
    assert.ok(await insecure.resource('v1', 'ConfigMap'), 'insecure-skip-tls-verify accepts any certificate');
    insecure.close();
  });

  it('after a 401 asks the credentials for fresh ones and tries once more', async () => {
    let token = 'old';
    let expired = 0;
    const credentials: CredentialSource = {
      current: () => Promise.resolve({ token }),
      expire: () => {
        expired++;
        token = token === 'old' ? 'new' : 'newer';
        return true;
      },
    };
    const authed = await startScriptedServer((req, res) =>
      req.headers.authorization === 'Bearer new'
        ? sendJson(res, 200, CORE)
        : sendStatus(res, 401, 'Unauthorized', 'Unauthorized'),
    );
    try {
      const client = kubeClient(connection(authed.url, { credentials }));
      assert.ok(await client.resource('v1', 'ConfigMap'));
      assert.equal(expired, 1);
      token = 'stale';
      const denied = await rejection(kubeClient(connection(authed.url, { credentials })).resource('v1', 'ConfigMap'));
      assert.deepEqual([denied.status, denied.reason, expired], [401, 'Unauthorized', 2], 'only one retry');
      client.close();
    } finally {
      await authed.close();
    }
  });

  it('sends a read again when a kept-alive connection was closed under it, and not a write', async () => {
    // Every second request on a connection is cut without an answer, as a server closing an idle connection does.
    const served = new WeakMap<Socket, number>();
    const flaky = http.createServer((req, res) => {
      const count = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, count);
      if (count === 2) return req.socket.destroy();
      if (req.url === '/api/v1') return sendJson(res, 200, CORE);
      sendJson(res, 200, cm('web', '6'));
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    try {
      const client = kubeClient(connection(`http://127.0.0.1:${(flaky.address() as AddressInfo).port}`));
      const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'web' };
      assert.equal(
        (await client.get(ref))?.metadata.resourceVersion,
        '6',
        'the GET cut on a reused connection is sent again',
      );
      const write = await rejection(client.replace(cm('web', '6')));
      assert.deepEqual([write.status, write.reason], [0, 'Unreachable']);
      client.close();
    } finally {
      flaky.closeAllConnections();
      await new Promise((resolve) => flaky.close(resolve));
    }
  });

  it('reports credentials that cannot be had as a 401 in their own words', async () => {
    const failing: CredentialSource = {
      current: () => Promise.reject(new Error('the exec plugin "aws" failed: exit status 255: SSO session expired')),
      expire: () => true,
    };
    const err = await rejection(kubeClient(connection(server.url, { credentials: failing })).resource('v1', 'Pod'));
    assert.deepEqual([err.status, err.reason], [401, 'Unauthorized']);
    assert.equal(
      err.message,
      'no credentials for the API server: the exec plugin "aws" failed: exit status 255: SSO session expired',
    );
  });

  it('sends a request the server throttled (429) again after its Retry-After, a few times at most', async () => {
    let refusals = 2;
    const throttling = await startScriptedServer((req, res) => {
      if (req.url.startsWith('/api/v1') && refusals-- > 0) {
        res.setHeader('retry-after', '0');
        return sendStatus(res, 429, 'TooManyRequests', 'Too many requests, please try again later.');
      }
      if (req.url === '/api/v1') return sendJson(res, 200, CORE);
      res.setHeader('retry-after', '0');
      sendStatus(res, 429, 'TooManyRequests', 'Too many requests, please try again later.');
    });
    try {
      const client = kubeClient(connection(throttling.url));
      assert.ok(await client.resource('v1', 'ConfigMap'), 'answered on the third try');
      throttling.received.length = 0;
      const gaveUp = await rejection(client.create(cm('new')));
      assert.deepEqual([gaveUp.status, gaveUp.reason], [429, 'TooManyRequests']);
      assert.equal(throttling.received.length, 4, 'sent once, then three times more');
      client.close();
    } finally {
      await throttling.close();
    }
  });
});
