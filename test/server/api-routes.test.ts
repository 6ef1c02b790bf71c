/**
 * The controller API's route table and middleware, in process: problems as RFC 9457
 * documents, 404 and 405 with Allow, the token before anything else, and a bug answered
 * with an id only. (Hostile files and bodies are in api-input.test.ts, on a real `kanari up`.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createApiServer } from '../../src/server/api.js';
import { ApiClient, ApiError } from '../../src/server/client.js';
import { Controller } from '../../src/server/controller.js';
import { dispatcher, route } from '../../src/server/routes.js';
import { request, type Reply } from '../helpers/http.js';
import { servedConformance, type Exchange } from '../helpers/openapi-conformance.js';

const TOKEN = 'route-test-token';
const dir = mkdtempSync(join(tmpdir(), 'kanari-routes-'));
let controller: Controller;
let server: http.Server;
let port: number;
let conforms: (e: Exchange) => void;

before(async () => {
  controller = new Controller(dir);
  server = createApiServer(controller, TOKEN, () => {}, { log: () => {} }) as http.Server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  conforms = await servedConformance(port);
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await controller.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A request, checked against the OpenAPI document on the way back. */
async function call(method: string, path: string, body?: string, token = TOKEN): Promise<Reply> {
  const reply = await request(port, {
    method,
    path,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body }),
  });
  conforms({ method, path, body, reply });
  return reply;
}

function problem(r: Reply, status: number): Record<string, unknown> {
  assert.equal(r.status, status, r.body);
  assert.equal(r.headers['content-type'], 'application/problem+json');
  const p = JSON.parse(r.body) as Record<string, unknown>;
  assert.equal(p.status, status);
  // RFC 9457 §4.2.1: with the type about:blank, the title is the status phrase.
  if (p.type === 'about:blank') assert.equal(p.title, http.STATUS_CODES[status]);
  else assert.equal(typeof p.title, 'string');
  return p;
}

describe('controller API routes', () => {
  it('answers an unknown path with 404 and a wrong method with 405 and Allow', async () => {
    assert.match(
      String(problem(await call('GET', '/api/v1/nothing'), 404).detail),
      /no such resource \/api\/v1\/nothing/,
    );
    assert.match(
      String(problem(await call('GET', '/api/v1/rollouts/shop/nothing'), 404).detail),
      /rollout resources: history, events, series, analyses\/ID, deploy, promote, abort/,
    );
    const wrong = await call('DELETE', '/api/v1/rollouts');
    assert.equal(problem(wrong, 405).detail, 'DELETE is not allowed here (allowed: GET)');
    assert.equal(wrong.headers.allow, 'GET');
    assert.equal((await call('GET', '/api/v1/rollouts/shop/promote')).headers.allow, 'POST');
    assert.equal((await call('POST', '/healthz')).headers.allow, 'GET');
  });

  it('asks for the token before saying whether a route exists', async () => {
    for (const path of ['/api/v1/rollouts', '/api/v1/nothing', '/api/v1/events']) {
      const r = await call('GET', path, undefined, 'wrong');
      assert.match(String(problem(r, 401).detail), /missing or wrong bearer token/);
      assert.equal(r.headers['www-authenticate'], 'Bearer');
    }
    // Near misses of the header are refused too, and a token in the query is not one; the scheme's case is free (RFC 9110).
    for (const authorization of [`Bearer  ${TOKEN}`, `Basic ${TOKEN}`, TOKEN])
      assert.equal((await request(port, { path: '/api/v1/rollouts', headers: { authorization } })).status, 401);
    const lower = await request(port, { path: '/api/v1/rollouts', headers: { authorization: `bearer ${TOKEN}` } });
    assert.equal(lower.status, 200);
    assert.equal((await request(port, { path: `/api/v1/rollouts?token=${TOKEN}` })).status, 401);
    assert.equal((await request(port, { path: '/healthz' })).status, 200);
    const metrics = await request(port, { path: '/metrics' });
    assert.equal(metrics.status, 200);
    assert.match(String(metrics.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(metrics.body, /^# (HELP|TYPE) kanari_/);
  });

  it('answers a file that is not valid with its located issues', async () => {
    const r = await call('POST', '/api/v1/apply', JSON.stringify({ file: '/tmp/x.yaml', text: 'kind: Nope\n' }));
    const p = problem(r, 400);
    assert.equal(p.type, 'https://kanari.dev/problems/invalid-config');
    assert.equal(p.detail, '/tmp/x.yaml is not valid');
    assert.match((p.issues as { message: string }[])[0]!.message, /unknown kind/);
  });

  it('answers bodies that are not JSON, deeply nested or of the wrong shape with 400', async () => {
    assert.equal(problem(await call('POST', '/api/v1/apply', '{'), 400).detail, 'the request body is not JSON');
    const deep = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
    assert.match(String(problem(await call('POST', '/api/v1/apply', deep), 400).detail), /body: /);
    assert.match(
      String(problem(await call('POST', '/api/v1/rollouts/x/deploy', '{"version":"v2","extra":1}'), 400).detail),
      /Unrecognized key/i,
    );
    assert.equal((await call('GET', '/healthz')).status, 200);
  });

  it('answers a body of another type with 415 and a reason, and takes an empty body of none', async () => {
    const send = (type: string | undefined, body: string) =>
      request(port, {
        method: 'POST',
        path: '/api/v1/rollouts/x/pause',
        headers: { authorization: `Bearer ${TOKEN}`, ...(type === undefined ? {} : { 'content-type': type }) },
        body,
      });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx', undefined])
      assert.match(String(problem(await send(type, '{}'), 415).detail), /content-type application\/json/);
    // JSON with parameters, and no body with no type, are what clients send.
    assert.equal((await send('application/json; charset=utf-8', '{}')).status, 404);
    assert.equal((await send(undefined, '')).status, 404);
  });

  it('answers a bug with an id that is logged, and nothing else', async () => {
    const lines: string[] = [];
    const handle = dispatcher(
      [
        route({
          method: 'GET',
          path: '/boom',
          public: true,
          handle: () => {
            throw new Error('secret /etc/path');
          },
        }),
      ],
      {
        authenticate: () => ({ name: 'test', role: 'admin', tokenId: 'test' }),
        maxBodyBytes: 10,
        log: (l) => lines.push(l),
      },
    );
    const s = http.createServer(handle);
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    try {
      const r = await request((s.address() as AddressInfo).port, { path: '/boom' });
      const p = problem(r, 500);
      assert.match(String(p.id), /^[0-9a-f]{8}$/);
      assert.equal(p.detail, `internal error (logged as ${String(p.id)})`);
      assert.doesNotMatch(r.body, /secret|\/etc/);
      assert.match(lines.join('\n'), new RegExp(`internal error ${String(p.id)} answering GET /boom: Error: secret`));
    } finally {
      s.close();
    }
  });

  it('gives the CLI the problem detail as its message, and the status', async () => {
    const client = new ApiClient(`http://127.0.0.1:${port}`, TOKEN);
    await assert.rejects(client.get('/api/v1/rollouts/ghost'), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 404);
      assert.equal(err.message, 'no rollout named ghost; apply one with kanari apply -f FILE');
      return true;
    });
    assert.equal(await client.gone(), false);
  });

  it('says a controller is gone only once it refuses connections, not while it is slow to answer', async () => {
    // What `kanari down` waits on: a controller still saving answers slowly, and is not gone.
    const slow = http.createServer(() => {
      /* never answers */
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const client = new ApiClient(`http://127.0.0.1:${(slow.address() as AddressInfo).port}`, TOKEN);
    assert.equal(await client.gone(100), false);
    slow.closeAllConnections();
    await new Promise<void>((resolve) => slow.close(() => resolve()));
    assert.equal(await client.gone(100), true);
  });
});
