/**
 * `GET /api/v1/rollouts/:name/series` on a real `kanari up`: what users sent through the
 * router is in the series, with the step that put the canary at 50% marked and the
 * background sequential judge's evidence; it is still there after the controller is
 * killed with -9 and started again; and every query parameter written to hurt it is a 400
 * with a reason.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { apiRoutes } from '../../src/server/api.js';
import type { SeriesAnswer } from '../../src/server/series.js';
import { appRollout, listenPort, UpFixture } from '../helpers/controller.js';
import { request } from '../helpers/http.js';
import { conformance, type Exchange } from '../helpers/openapi-conformance.js';
import { byVersion, sendMany } from '../helpers/load.js';

type Series = SeriesAnswer & { marks: { at: number; type: string; weights?: { canary: number } }[] };

const f = new UpFixture();
let port: number;

/** A GET, its answer checked against the OpenAPI document (the series schema, or a problem). */
async function get(path: string) {
  const url = (JSON.parse(readFileSync(join(f.state, 'controller.json'), 'utf8')) as { url: string }).url;
  const token = readFileSync(join(f.state, 'api-token'), 'utf8').trim();
  const port = Number(new URL(url).port);
  conforms ??= conformance(
    JSON.parse((await request(port, { path: '/api/openapi.json' })).body),
    apiRoutes({} as never, {} as never, {} as never, () => {}, {} as never),
  );
  const reply = await request(port, { path, headers: { authorization: `Bearer ${token}` } });
  conforms({ method: 'GET', path, reply });
  return {
    status: reply.status,
    type: reply.headers['content-type'],
    json: JSON.parse(reply.body) as Record<string, unknown>,
  };
}
let conforms: ((e: Exchange) => void) | undefined;

const sum = (xs: readonly (number | null)[] | undefined) => (xs ?? []).reduce<number>((a, b) => a + (b ?? 0), 0);

/** The series of the last `minutes`, once it counts `requests` served in all (the engine samples every second). */
async function seriesWith(requests: number): Promise<Series> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const to = Date.now() + 1000;
    const r = await get(`/api/v1/rollouts/shop/series?from=${to - 600_000}&to=${to}&points=100`);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const s = r.json as unknown as Series;
    const served = Object.values(s.versions).reduce((n, v) => n + sum(v.requests), 0);
    if (served >= requests || Date.now() > deadline) return s;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

before(async () => {
  port = await listenPort();
  await f.up();
  // The canary at 50%, held there, with the sequential judge watching in the background.
  const rollout = appRollout(
    'shop',
    port,
    `  strategy:
    canary:
      analysis: { templates: [sequential] }
      steps:
        - setWeight: 50
        - pause: {}`,
  );
  await f.deployPaused('shop', f.write('shop.yaml', rollout), 'v2', 50);
});
after(() => f.close());

describe('a rollout series over the API', () => {
  it('counts what users sent, marks the step boundaries, and keeps both across a kill -9', async () => {
    const served = byVersion(await sendMany(port, 40, 4, (i) => ({ headers: { cookie: `shop-user=u${i}` } })));
    assert.equal((served.v1 ?? 0) + (served.v2 ?? 0), 40);
    let s = await seriesWith(40);
    assert.equal(s.width, 10_000, '10 minutes in at most 100 points');
    assert.equal(s.t.length, s.versions.stable!.requests.length);
    assert.ok(s.t.length <= 100);
    assert.equal(sum(s.versions.stable?.requests), served.v1 ?? 0);
    assert.equal(sum(s.versions.canary?.requests), served.v2 ?? 0);
    assert.ok(
      s.versions.stable!.p50.some((p) => p !== null && p > 0.004),
      'the app answers in about 5 ms',
    );
    assert.ok(
      s.marks.some((m) => m.type === 'status' && m.weights?.canary === 50),
      `the step to 50% is marked: ${JSON.stringify(s.marks)}`,
    );
    assert.ok(s.marks.some((m) => m.type === 'deploy'));
    assert.ok(s.evidence.length > 0, 'the sequential run shows its evidence');
    for (const e of s.evidence) {
      assert.equal(e.template, 'sequential');
      assert.ok(e.rollbackAt > 0 && e.points.length > 0, JSON.stringify(e));
      assert.ok(
        e.points.every(([, logE, maxLogE]) => logE <= maxLogE && maxLogE < e.rollbackAt),
        'v2 is as good as v1: far from the rollback line',
      );
    }

    await f.kill9();
    await f.up();
    s = await seriesWith(40);
    assert.equal(
      sum(s.versions.stable?.requests) + sum(s.versions.canary?.requests),
      40,
      'nothing lost, nothing twice',
    );
  });

  it('answers each bad query with 400 and its reason, and an unknown rollout with 404', async () => {
    const cases: [string, RegExp][] = [
      ['points=1000000000', /query parameter points: must be an integer from 10 to 2000/],
      ['points=1e9', /points: must be an integer/],
      ['points=NaN', /points: must be an integer/],
      ['points=', /points: must be an integer/],
      ['from=-5', /from: must be an integer/],
      ['from=1.5', /from: must be an integer/],
      ['from=2000&to=1000', /from must be before to/],
      ['from=5&to=5', /from must be before to/],
      [`from=0&to=${100 * 86_400_000}`, /at most 31 days apart/],
      ['to=99999999999999999999', /to: must be an integer/],
    ];
    for (const [query, reason] of cases) {
      const r = await get(`/api/v1/rollouts/shop/series?${query}`);
      assert.equal(r.status, 400, query);
      assert.equal(r.type, 'application/problem+json');
      assert.match(String(r.json.detail), reason, query);
    }
    const missing = await get('/api/v1/rollouts/nope/series');
    assert.equal(missing.status, 404);
  });
});
