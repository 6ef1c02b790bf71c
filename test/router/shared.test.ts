import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { API_VERSION } from '../../src/config/schemas/common.js';
import { sharedRouterDocument } from '../../src/config/schemas/router.js';
import { startSharedRouter, type SharedRouterHandle } from '../../src/router/run.js';
import { startCli } from '../helpers/cli.js';
import { startUpstream, type TestUpstream } from '../helpers/http.js';

const TOKEN = 'test-token-0123456789';

describe('one router process serving several services', () => {
  let v1: TestUpstream;
  let v2: TestUpstream;
  let stateDir: string;
  let router: SharedRouterHandle;

  const start = (services: Record<string, unknown>[] = []) =>
    startSharedRouter(
      sharedRouterDocument.parse({
        apiVersion: API_VERSION,
        kind: 'SharedRouter',
        metadata: { name: 'shared' },
        spec: { admin: { listen: '127.0.0.1:0', token: TOKEN }, stateDir, services },
      }),
    );
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${router.adminUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as any };
  };
  const portOf = (name: string) => router.services().find((s) => s.name === name)!.address!.port;
  const get = async (name: string) => {
    const res = await fetch(`http://127.0.0.1:${portOf(name)}/`);
    return { status: res.status, body: await res.text() };
  };
  const requestsOf = async (name: string) => {
    const { json } = await admin('GET', `/services/${name}/stats`);
    return Object.values(json.versions as Record<string, { requests: Record<string, number> }>).reduce(
      (n, v) => n + Object.values(v.requests).reduce((a, b) => a + b, 0),
      0,
    );
  };

  before(async () => {
    v1 = await startUpstream('v1');
    v2 = await startUpstream('v2');
    stateDir = mkdtempSync(join(tmpdir(), 'kanari-shared-'));
    router = await start(
      ['a', 'b', 'c'].map((name) => ({ name, listen: '127.0.0.1:0', table: { pools: { stable: [v1.url] } } })),
    );
  });
  after(async () => {
    await router.close(0);
    await Promise.all([v1.close(), v2.close()]);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('serves each service on its own listener', async () => {
    assert.deepEqual(
      router.services().map((s) => [s.name, s.serving]),
      [
        ['a', true],
        ['b', true],
        ['c', true],
      ],
    );
    assert.equal(new Set(['a', 'b', 'c'].map(portOf)).size, 3);
    assert.equal((await get('b')).body, 'v1');
  });

  it('a table PUT for one service changes and bumps only that one', async () => {
    const put = await admin('PUT', '/services/a/table', { pools: { stable: [v2.url] } });
    assert.equal(put.status, 200, JSON.stringify(put.json));
    assert.equal(put.json.revision, 2);
    assert.equal((await get('a')).body, 'v2');
    assert.equal((await get('b')).body, 'v1');
    assert.equal((await admin('GET', '/services/b/table')).json.revision, 1);
    assert.equal((await admin('GET', '/services/c/table')).json.revision, 1);
    // If-Match is checked against the service's own revision, not another's.
    assert.equal((await admin('PUT', '/services/b/table', { pools: { stable: [v2.url] } })).json.revision, 2);
    const stale = await fetch(`${router.adminUrl}/services/c/table`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}`, 'if-match': '2' },
      body: JSON.stringify({ pools: { stable: [v2.url] } }),
    });
    assert.equal(stale.status, 409);
  });

  it('a bad table for one service is refused and changes nothing anywhere', async () => {
    const bad = await admin('PUT', '/services/c/table', { pools: { stable: ['not a url'] } });
    assert.equal(bad.status, 400);
    assert.equal((await admin('GET', '/services/c/table')).json.revision, 1);
    assert.equal((await get('c')).body, 'v1');
    assert.equal((await get('a')).body, 'v2');
  });

  it('counts each service apart', async () => {
    const before = await Promise.all(['a', 'b', 'c'].map(requestsOf));
    for (let i = 0; i < 5; i++) await get('a');
    const after = await Promise.all(['a', 'b', 'c'].map(requestsOf));
    assert.deepEqual(
      after.map((n, i) => n - before[i]!),
      [5, 0, 0],
    );
    assert.equal((await admin('GET', '/services/b/stats')).json.service, 'b');
  });

  it('the unprefixed resources need a service named when there are several', async () => {
    const r = await admin('GET', '/table');
    assert.equal(r.status, 404);
    assert.match(r.json.error, /serves 3 services: address one as \/services\/NAME\/table \(a, b, c\)/);
  });

  it('a service whose port is taken is listed as not serving, and the others serve on', async () => {
    const held: Server = await new Promise((done) => {
      const s = createServer().listen(0, '127.0.0.1', () => done(s));
    });
    const port = (held.address() as { port: number }).port;
    try {
      const r = await admin('PUT', '/services/d', {
        listen: `127.0.0.1:${port}`,
        table: { pools: { stable: [v1.url] } },
      });
      assert.equal(r.status, 503);
      assert.match(
        r.json.error,
        new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} \\(spec\\.listen\\): the address is already in use`),
      );
      assert.deepEqual((await admin('GET', '/services/d')).json, { name: 'd', serving: false, reason: r.json.error });
      assert.equal((await admin('GET', '/services/d/table')).status, 503);
      assert.equal((await get('b')).status, 200);
    } finally {
      await new Promise((done) => held.close(done));
    }
    // Adding it again once the port is free opens it.
    const again = await admin('PUT', '/services/d', {
      listen: `127.0.0.1:${port}`,
      table: { pools: { stable: [v1.url] } },
    });
    assert.equal(again.status, 201, JSON.stringify(again.json));
    assert.equal((await get('d')).body, 'v1');
  });

  it('adds a service at run time, finds the same one again, and refuses another spec under its name', async () => {
    const spec = { listen: '127.0.0.1:0', sticky: { header: 'x-user' }, table: { pools: { stable: [v2.url] } } };
    const added = await admin('PUT', '/services/e', spec);
    assert.equal(added.status, 201, JSON.stringify(added.json));
    assert.equal((await get('e')).body, 'v2');
    assert.equal((await admin('PUT', '/services/e', spec)).status, 200);
    const other = await admin('PUT', '/services/e', { ...spec, sticky: { header: 'x-other' } });
    assert.equal(other.status, 409);
    assert.match(other.json.error, /DELETE \/services\/e first/);
    const invalid = await admin('PUT', '/services/f', { listen: '127.0.0.1:0' });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.json.error, 'invalid service');
  });

  it('a restart brings back every service, added ones too, each with its last table', async () => {
    await admin('PUT', '/services/e/table', { pools: { stable: [v1.url] } });
    const names = router.services().map((s) => s.name);
    await router.close(0);
    router = await start(
      ['a', 'b', 'c'].map((name) => ({ name, listen: '127.0.0.1:0', table: { pools: { stable: [v1.url] } } })),
    );
    assert.deepEqual(
      router.services().map((s) => s.name),
      names,
    );
    assert.equal((await admin('GET', '/services/a/table')).json.revision, 2);
    assert.equal((await get('a')).body, 'v2', 'a came back on its last table, not the file one');
    assert.equal((await admin('GET', '/services/e/table')).json.revision, 2);
    assert.equal((await get('e')).body, 'v1');
  });

  it('removing a service closes its listener, and a restart does not bring it back', async () => {
    const port = portOf('e');
    // A grace that is not a whole number of milliseconds is refused, and the service stays.
    for (const grace of ['-1', '1.5', 'soon']) {
      const refused = await admin('DELETE', `/services/e?graceMs=${grace}`);
      assert.equal(refused.status, 400, `graceMs=${grace}`);
      assert.match(refused.json.error, /graceMs must be a whole number of milliseconds/);
    }
    assert.equal((await get('e')).body, 'v1', 'e still serves');
    const removed = await admin('DELETE', '/services/e?graceMs=1000');
    assert.equal(removed.status, 200);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/`));
    assert.equal((await admin('GET', '/services/e')).status, 404);
    assert.equal((await admin('DELETE', '/services/e')).status, 404);
    await router.close(0);
    router = await start();
    assert.ok(!router.services().some((s) => s.name === 'e'));
    assert.ok(
      router.services().some((s) => s.name === 'd'),
      'an added service stays until removed',
    );
  });
});

describe('kanari router -f with a SharedRouter file', () => {
  it('serves every service of the file, and a kill -9 then a restart brings each back on its last table', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-shared-cli-'));
    const v1 = await startUpstream('v1');
    const v2 = await startUpstream('v2');
    const file = join(dir, 'router.yaml');
    writeFileSync(
      file,
      `apiVersion: kanari.dev/v1alpha1
kind: SharedRouter
metadata: { name: edge }
spec:
  admin: { listen: 127.0.0.1:0, token: ${TOKEN} }
  stateDir: state
  services:
    - { name: a, listen: 127.0.0.1:0, table: { pools: { stable: [${v1.url}] } } }
    - { name: b, listen: 127.0.0.1:0, table: { pools: { stable: [${v1.url}] } } }
`,
    );
    const run = async () => {
      const { child, output } = await startCli(['router', '-f', file], /admin on http:\/\/127\.0\.0\.1:\d+/);
      const adminUrl = /admin on (http:\/\/127\.0\.0\.1:\d+)/.exec(output())![1]!;
      const call = async (method: string, path: string, body?: unknown) =>
        (await fetch(`${adminUrl}${path}`, {
          method,
          headers: { authorization: `Bearer ${TOKEN}` },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        }).then((r) => r.json())) as any;
      return { child, output, call };
    };
    let r = await run();
    try {
      assert.match(r.output(), /2 service\(s\); their tables kept in .*state\/services/);
      await r.call('PUT', '/services/b/table', { pools: { stable: [v2.url] } });
      const killed = once(r.child, 'exit');
      r.child.kill('SIGKILL');
      await killed;
      r = await run();
      const { services } = await r.call('GET', '/services');
      const body = async (name: string) => {
        const port = services.find((s: { name: string }) => s.name === name).address.port;
        return (await fetch(`http://127.0.0.1:${port}/`)).text();
      };
      assert.equal(await body('a'), 'v1');
      assert.equal(await body('b'), 'v2', 'b came back on the table it was given, not the file one');
    } finally {
      r.child.kill('SIGKILL');
      await Promise.all([v1.close(), v2.close()]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
