/**
 * The dashboard's files as the controller serves them: through the API's own dispatcher,
 * from a folder read once at start. Every target written to get past a path check (climbing
 * out, encoded slashes and dots, NUL, backslashes, a huge target) is refused with a status
 * and a reason, and none reaches a file outside the folder; what is served has its type,
 * the CSP and the other headers, an ETag that answers 304, and no body for HEAD.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DASHBOARD_HEADERS, loadDashboard, serveDashboard } from '../../src/server/dashboard-files.js';
import { dispatcher, ok, route } from '../../src/server/routes.js';
import { HttpError } from '../../src/shared/http.js';
import { rawExchange, request } from '../helpers/http.js';

const root = mkdtempSync(join(tmpdir(), 'kanari-web-'));
const web = join(root, 'web');
let server: http.Server;
let port: number;

function serve(dir: string): Promise<http.Server> {
  const files = loadDashboard(dir);
  const handle = dispatcher(
    [route({ method: 'GET', path: '/healthz', public: true, handle: () => ok({ ok: true }) })],
    {
      authenticate: () => {
        throw new HttpError(401, 'no token', {}, { 'www-authenticate': 'Bearer' });
      },
      maxBodyBytes: 1024,
      log: () => {},
      fallback: (req, res) => serveDashboard(files, req, res),
    },
  );
  const s = http.createServer(handle);
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}

before(async () => {
  mkdirSync(join(web, 'assets', 'vendor'), { recursive: true });
  writeFileSync(join(web, 'index.html'), '<!doctype html><title>kanari</title>');
  writeFileSync(join(web, 'assets', 'main.js'), 'export {};');
  writeFileSync(join(web, 'assets', 'main.js.map'), '{}');
  writeFileSync(join(web, 'assets', 'vendor', 'uPlot.min.css'), '.u{}');
  writeFileSync(join(root, 'secret.txt'), 'the secret beside the folder');
  server = await serve(web);
  port = (server.address() as AddressInfo).port;
});
after(() => {
  server.close();
  rmSync(root, { recursive: true, force: true });
});

const html = { accept: 'text/html,application/xhtml+xml' };

describe('the dashboard files', () => {
  it('refuses every target written to climb out or slip past a check, with a status and a reason', async () => {
    const cases: [string, number, RegExp][] = [
      ['/assets/..%2f..%2fsecret.txt', 400, /encoded NUL, slash, backslash or dot/],
      ['/assets/%2e%2e/%2e%2e/secret.txt', 400, /encoded/],
      ['/assets/..%5csecret.txt', 400, /encoded/],
      ['/assets/main.js%00.html', 400, /encoded/],
      ['/assets/..\\..\\secret.txt', 400, /backslash or NUL/],
      ['/assets/./main.js', 400, /a \. or \.\. segment/],
      ['/assets//main.js', 400, /empty segment/],
      [`/assets/${'a'.repeat(3000)}.js`, 414, /longer than 2048/],
      ['/assets/nothing.js', 404, /no such file \/assets\/nothing\.js/],
      ['/assets/main.js.map', 404, /no such file/],
    ];
    for (const [path, status, detail] of cases) {
      const r = await request(port, { path, headers: html });
      assert.equal(r.status, status, `${path.slice(0, 80)}: ${r.body}`);
      assert.equal(r.headers['content-type'], 'application/problem+json');
      assert.match(JSON.parse(r.body).detail, detail, path.slice(0, 80));
      assert.doesNotMatch(r.body, /the secret/);
    }
    // What a client that does not normalise sends: `..` segments as they are.
    const raw = await rawExchange(
      port,
      'GET /assets/../../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    assert.match(raw, /^HTTP\/1\.1 400 /);
    assert.doesNotMatch(raw, /the secret/);
  });

  it('refuses a page path that is not valid percent-encoded UTF-8, which the page would fail to read', async () => {
    for (const path of ['/rollouts/%E0', '/rollouts/%', '/rollouts/a%zz']) {
      const r = await request(port, { path, headers: html });
      assert.equal(r.status, 400, `${path}: ${r.body.slice(0, 80)}`);
      assert.match(JSON.parse(r.body).detail, /percent-encoded UTF-8/, path);
    }
  });

  it('serves GET and HEAD only: another method on its paths is a 405 with Allow', async () => {
    for (const path of ['/', '/assets/main.js']) {
      const r = await request(port, {
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(r.status, 405, path);
      assert.equal(r.headers.allow, 'GET, HEAD');
    }
  });

  it('serves each file with its type, the CSP, nosniff, no referrer, and an ETag that answers 304', async () => {
    const js = await request(port, { path: '/assets/main.js' });
    assert.equal(js.status, 200);
    assert.equal(js.body, 'export {};');
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    for (const [name, value] of Object.entries(DASHBOARD_HEADERS)) assert.equal(js.headers[name], value, name);
    assert.match(String(js.headers['content-security-policy']), /script-src 'self'.*frame-ancestors 'none'/);
    const again = await request(port, { path: '/assets/main.js', headers: { 'if-none-match': js.headers.etag! } });
    assert.equal(again.status, 304);
    assert.equal(again.body, '');
    const css = await request(port, { path: '/assets/vendor/uPlot.min.css' });
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    const head = await request(port, { path: '/', method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(head.body, '');
  });

  it("gives index.html for the dashboard's own routes to a browser, and leaves the API's paths to the API", async () => {
    for (const path of ['/', '/rollouts/shop', '/history', '/rollouts/shop?phase=Paused']) {
      const r = await request(port, { path, headers: html });
      assert.equal(r.status, 200, path);
      assert.match(r.body, /<title>kanari<\/title>/);
    }
    // Not a browser asking for a page: the API answers, and it wants a token first.
    assert.equal((await request(port, { path: '/rollouts/shop' })).status, 401);
    assert.equal((await request(port, { path: '/api/v1/rollouts', headers: html })).status, 401);
    assert.equal((await request(port, { path: '/auth/session', headers: html })).status, 401);
    // A route of the table wins over the fallback.
    assert.deepEqual(JSON.parse((await request(port, { path: '/healthz', headers: html })).body), { ok: true });
  });

  it('says the dashboard is not built when its folder is missing, and the API still answers', async () => {
    const bare = await serve(join(root, 'missing'));
    try {
      const p = (bare.address() as AddressInfo).port;
      const r = await request(p, { path: '/', headers: html });
      assert.equal(r.status, 503);
      assert.match(JSON.parse(r.body).detail, /not built: run `npm run build`/);
      assert.equal((await request(p, { path: '/healthz' })).status, 200);
    } finally {
      bare.close();
    }
  });
});
