import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { loopbackRouter } from '../../src/config/schemas/router.js';
import { startRouter } from '../../src/router/run.js';
import { startUpstream, type TestUpstream } from '../helpers/http.js';
import { byVersion, sendMany } from '../helpers/load.js';
import { runCli, startCli } from '../helpers/cli.js';
import { startTestRouter, TOKEN, writeRouterFile, type TestRouter } from '../helpers/router.js';

let stable: TestUpstream;
let canary: TestUpstream;
let router: TestRouter;

before(async () => {
  [stable, canary] = await Promise.all([startUpstream('stable'), startUpstream('canary')]);
  router = await startTestRouter({ pools: { stable: [stable.url], canary: [canary.url] } });
});
after(async () => {
  await router.close();
  await Promise.all([stable.close(), canary.close()]);
});

describe('admin API', () => {
  it('refuses requests without the bearer token, except /healthz', async () => {
    const res = await fetch(`${router.adminUrl}/table`);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');
    assert.match(((await res.json()) as { error: string }).error, /bearer token/);
    assert.equal(
      (await fetch(`${router.adminUrl}/table`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status,
      401,
    );
    assert.equal((await fetch(`${router.adminUrl}/healthz`)).status, 200);
  });

  it('replaces the table as one versioned document, refusing stale writers', async () => {
    const { json: first } = await router.admin('GET', '/table');
    const table = { ...first.table, weights: { canary: 12.34, baseline: 0 } };
    const ok = await router.admin('PUT', '/table', table, { 'if-match': String(first.revision) });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.revision, first.revision + 1);
    const stale = await router.admin('PUT', '/table', table, { 'if-match': String(first.revision) });
    assert.equal(stale.status, 409);
    assert.equal(stale.json.revision, first.revision + 1);
    assert.match(stale.json.error, /revision conflict/);
    // An If-Match that names no revision is refused as such, not taken for a conflict (409).
    const unreadable = await router.admin('PUT', '/table', table, { 'if-match': 'latest' });
    assert.equal(unreadable.status, 400);
    assert.match(unreadable.json.error, /If-Match must be a table revision number/);
    assert.equal((await router.admin('GET', '/table')).json.table.weights.canary, 12.34);
  });

  it('rejects an invalid table with located issues and keeps the old one', async () => {
    const before = (await router.admin('GET', '/table')).json;
    const body =
      '{\n  "pools": { "stable": ["http://127.0.0.1:1"], "canary": ["http://127.0.0.1:2"] },\n  "weights": { "canary": 5, "canery": 1 }\n}';
    const res = await router.admin('PUT', '/table', body);
    assert.equal(res.status, 400);
    assert.equal(res.json.error, 'invalid routing table');
    assert.deepEqual(res.json.issues, [
      { line: 3, col: 29, path: 'weights.canery', message: 'unknown key (did you mean "canary"?)' },
    ]);
    assert.deepEqual((await router.admin('GET', '/table')).json, before);
  });

  it('answers unknown paths and methods with 404 and 405', async () => {
    assert.equal((await router.admin('GET', '/nope')).status, 404);
    const wrong = await router.admin('DELETE', '/table');
    assert.equal(wrong.status, 405);
    assert.match(wrong.json.error, /allowed: GET, PUT/);
  });

  it('exports per-version counts and latency as Prometheus text and JSON', async () => {
    await router.setTable({ pools: { stable: [stable.url], canary: [canary.url] }, weights: { canary: 50 } });
    const before = (await router.admin('GET', '/stats')).json;
    const replies = await sendMany(router.port, 400, 8, (i) => ({ path: i % 10 === 0 ? '/status/503' : '/' }));
    const got = byVersion(replies);
    const { json: stats } = await router.admin('GET', '/stats');
    const delta = (v: 'stable' | 'canary', c: string) => stats.versions[v].requests[c] - before.versions[v].requests[c];
    assert.equal(delta('stable', '2xx') + delta('stable', '5xx'), got.stable);
    assert.equal(delta('canary', '2xx') + delta('canary', '5xx'), got.canary);
    assert.equal(delta('stable', '5xx') + delta('canary', '5xx'), 40);
    assert.equal(stats.versions.stable.latency.count - before.versions.stable.latency.count, got.stable);
    assert.equal(stats.versions.canary.inFlight, 0);

    const text = (await router.admin('GET', '/metrics')).json as string;
    for (const line of text.trimEnd().split('\n'))
      assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+\{[^}]*\} [\d.e+-]+)$/, line);
    assert.match(
      text,
      new RegExp(
        `kanari_router_requests_total\\{service="svc",version="canary",code="2xx"\\} ${stats.versions.canary.requests['2xx']}\\n`,
      ),
    );
    assert.match(
      text,
      new RegExp(
        `kanari_router_request_duration_seconds_count\\{service="svc",version="stable"\\} ${stats.versions.stable.latency.count}\\n`,
      ),
    );
    assert.match(text, /kanari_router_weight_percent\{service="svc",version="canary"\} 50\n/);
  });
});

describe('the admin socket', () => {
  it('is not taken from a router that is using it: a second router on the same path fails to start, and the first keeps it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-sock-'));
    const spec = (state: string) => ({
      admin: { listen: `unix:${join(dir, 'admin.sock')}`, token: TOKEN },
      state: join(dir, state),
      table: { pools: { stable: ['http://127.0.0.1:1'] } },
    });
    const first = await startRouter(loopbackRouter('one', TOKEN, spec('one.json')));
    try {
      await assert.rejects(startRouter(loopbackRouter('two', TOKEN, spec('two.json'))), /admin\.sock.*in use/);
      const answer = await new Promise<number>((resolve, reject) => {
        const req = http.request({ socketPath: join(dir, 'admin.sock'), path: '/healthz' }, (res) =>
          resolve(res.statusCode ?? 0),
        );
        req.on('error', reject);
        req.end();
      });
      assert.equal(answer, 200, 'the first router still answers on its socket');
    } finally {
      await first.close(100);
    }
  });
});

describe('persistence', () => {
  it('comes back after kill -9 with the last table it was given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-cli-'));
    const file = writeRouterFile(
      dir,
      'shop',
      `"unix:${join(dir, 'admin.sock')}"`,
      `    pools: { stable: [${stable.url}], canary: [${canary.url}] }\n`,
    );
    const start = async () => {
      const run = await startCli(['router', '-f', file], /serving on http:\/\/127\.0\.0\.1:(\d+)/);
      const port = Number(/serving on http:\/\/127\.0\.0\.1:(\d+)/.exec(run.output())![1]);
      return { ...run, port };
    };
    const admin = (method: string, body?: unknown) =>
      new Promise<{ status: number; json: any }>((resolve, reject) => {
        // fetch cannot reach a unix socket; node:http can.
        void import('node:http').then(({ default: http }) => {
          const req = http.request(
            {
              socketPath: join(dir, 'admin.sock'),
              path: '/table',
              method,
              headers: { authorization: `Bearer ${TOKEN}` },
            },
            (res) => {
              let data = '';
              res.on('data', (c) => (data += c));
              res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(data) }));
            },
          );
          req.on('error', reject);
          req.end(body === undefined ? undefined : JSON.stringify(body));
        });
      });

    const first = await start();
    const { json } = await admin('GET');
    assert.equal(json.revision, 1);
    const put = await admin('PUT', { ...json.table, weights: { canary: 100, baseline: 0 } });
    assert.equal(put.json.revision, 2);
    assert.deepEqual(byVersion(await sendMany(first.port, 20, 4, (i) => ({ headers: { 'x-user-id': `u${i}` } }))), {
      canary: 20,
    });
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');

    const second = await start();
    try {
      assert.match(second.output(), /restored routing table revision 2/);
      assert.equal((await admin('GET')).json.revision, 2);
      assert.deepEqual(byVersion(await sendMany(second.port, 20, 4, (i) => ({ headers: { 'x-user-id': `u${i}` } }))), {
        canary: 20,
      });
    } finally {
      second.child.kill('SIGTERM');
      await once(second.child, 'exit');
    }
  });

  it('refuses to start on a damaged saved table rather than guess', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-damaged-'));
    writeFileSync(join(dir, 'table.json'), '{"revision": 3, "table": {"pools": {"stable": []}}}');
    await assert.rejects(
      startTestRouter({ pools: { stable: [stable.url] } }, {}, join(dir, 'table.json')),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(
          err.message,
          /table\.json:1:\d+ table\.pools\.stable: must list at least one endpoint .*the saved routing table is damaged/,
        );
        return true;
      },
    );
  });
});

describe('cli', () => {
  it('prints located errors and exits 2 for a bad file, with no stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-lint-'));
    const file = join(dir, 'r.yaml');
    writeFileSync(
      file,
      'apiVersion: kanari.dev/v1alpha1\nkind: Router\nmetadata: { name: x }\nspec:\n  listen: 99999\n  table: { pools: { stable: [http://127.0.0.1:1] } }\n',
    );
    const r = runCli(['lint', '-f', file]);
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim(), `${file}:5:11 spec.listen: must be a port between 0 and 65535 (got 99999)`);
  });

  it('answers an unknown command or flag with usage and exit 2', () => {
    const unknown = runCli(['frobnicate']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    const flag = runCli(['lint', '--nope']);
    assert.equal(flag.status, 2);
    assert.match(flag.stderr, /lint: Unknown option '--nope'/);
  });

  it('lints a good file with exit 0', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-lint-'));
    const file = join(dir, 'r.yaml');
    writeFileSync(
      file,
      'apiVersion: kanari.dev/v1alpha1\nkind: Router\nmetadata: { name: x }\nspec:\n  listen: 8080\n  table: { pools: { stable: [http://127.0.0.1:1] } }\n',
    );
    const r = runCli(['lint', '-f', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), `${file}: Router ok`);
  });

  it('lint --json reports every file, good and bad, with located issues, and exits 2 when one is bad', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-lint-'));
    const good = join(dir, 'good.yaml');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      good,
      'apiVersion: kanari.dev/v1alpha1\nkind: Router\nmetadata: { name: x }\nspec:\n  listen: 8080\n  table: { pools: { stable: [http://127.0.0.1:1] } }\n',
    );
    writeFileSync(
      bad,
      'apiVersion: kanari.dev/v1alpha1\nkind: Rollout\nmetadata: { name: y }\nspec:\n  listen: 8080\n  stable: { version: v1, upstreams: [http://127.0.0.1:1] }\n  canary: { upstreams: [http://127.0.0.1:2] }\n  strategy: { rolling: {} }\n',
    );
    const r = runCli(['lint', '--json', '-f', good, '-f', bad]);
    assert.equal(r.status, 2, r.stderr);
    const out = JSON.parse(r.stdout) as {
      ok: boolean;
      files: {
        file: string;
        ok: boolean;
        documents?: unknown[];
        issues?: { line: number; path: string; message: string }[];
      }[];
    };
    assert.equal(out.ok, false);
    assert.deepEqual(out.files[0], { file: good, ok: true, documents: [{ kind: 'Router', name: 'x' }] });
    assert.deepEqual(
      out.files[1]!.issues!.map((i) => `${i.line} ${i.path}: ${i.message}`),
      [
        '6 spec.stable: a rolling update replaces process instances a few at a time, so stable must be a process target',
        '7 spec.canary: a rolling update replaces process instances a few at a time, so canary must be a process target',
      ],
    );
  });
});
