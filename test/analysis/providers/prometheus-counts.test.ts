/**
 * The Prometheus count source against a fake Prometheus HTTP API that answers canned raw
 * samples, so each rule — common timestamps, counter resets, outcomes that are never a
 * zero, misconfigurations that end the run as Error — is checked with exact numbers.
 * test/analysis/counts-agree.test.ts runs it against a real Prometheus and router.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { analysisTemplateSpec, prometheusCounts } from '../../../src/config/schemas/analysis.js';
import {
  bucketLatency,
  nearestBound,
  PrometheusCountSource,
} from '../../../src/analysis/providers/prometheus-counts.js';
import { AnalysisRun } from '../../../src/analysis/run.js';
import { Providers } from '../../../src/analysis/providers/index.js';

type Series = { metric: Record<string, string>; values: [number, string][] };
type Answer = { status: number; body: unknown };

/** A Prometheus API that answers each range query with `answer(query)`; the queries asked are kept. */
async function fakePrometheus(answer: (query: string) => Answer) {
  const queries: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const query = new URLSearchParams(body).get('query')!;
      queries.push(query);
      const a = answer(query);
      res.writeHead(a.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(a.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, queries, close: () => server.close() };
}

const matrix = (result: Series[]): Answer => ({
  status: 200,
  body: { status: 'success', data: { resultType: 'matrix', result } },
});
const series = (labels: Record<string, string>, points: [number, number][]): Series => ({
  metric: { service: 'svc', ...labels },
  values: points.map(([t, v]) => [t, String(v)]),
});

// Samples at t = 1..4 s; canary's 2xx counter restarts between 2 and 3, and stable has an
// extra sample at 2.5 s that no other series shares.
const REQUESTS = [
  series({ version: 'canary', code: '2xx' }, [
    [1, 10],
    [2, 15],
    [3, 3],
    [4, 8],
  ]),
  series({ version: 'canary', code: '5xx' }, [
    [1, 0],
    [2, 1],
    [3, 0],
    [4, 2],
  ]),
  series({ version: 'stable', code: '2xx' }, [
    [1, 100],
    [2, 150],
    [2.5, 170],
    [3, 200],
    [4, 250],
  ]),
  series({ version: 'stable', code: '5xx' }, [
    [1, 0],
    [2, 0],
    [3, 1],
    [4, 1],
  ]),
];
const counters = (q: string) => (q.includes('code=~') ? REQUESTS.filter((s) => s.metric.code === '5xx') : REQUESTS);

function source(url: string, fields: Record<string, unknown> = {}) {
  return new PrometheusCountSource(prometheusCounts.parse({ address: url, latency: false, ...fields }), 'svc');
}

describe('prometheus counts from raw samples', () => {
  let prom: Awaited<ReturnType<typeof fakePrometheus>>;
  let reply: (q: string) => Answer = (q) => matrix(counters(q));
  before(async () => (prom = await fakePrometheus((q) => reply(q))));
  after(() => prom.close());

  it('makes one window per pair of shared timestamps, a restarted counter counting from zero', async () => {
    const r = await source(prom.url).windows(1000, 4000);
    assert.equal(r.kind, 'value', JSON.stringify(r));
    const windows = (r as { windows: { start: number; end: number; versions: any }[] }).windows;
    assert.deepEqual(
      windows.map((w) => [
        w.start,
        w.end,
        w.versions.canary.requests,
        w.versions.canary.errors,
        w.versions.stable.requests,
      ]),
      [
        [1000, 2000, 6, 1, 50],
        [2000, 3000, 3, 0, 51], // 15 → 3 is a restart: 3 since it, not −12
        [3000, 4000, 7, 2, 50],
      ],
    );
    assert.equal(windows[0]!.versions.baseline.requests, 0);
    assert.equal(
      prom.queries.at(-2),
      'kanari_router_requests_total{service="svc",version=~"stable|canary|baseline"}[3001ms]',
      'a range selector: raw samples, never rate() or increase()',
    );
    assert.match(prom.queries.at(-1)!, /,code=~"5xx"\}\[3001ms\]$/);
  });

  it('never reads an outage or missing data as zero', async () => {
    const refused = await source('http://127.0.0.1:1').windows(1000, 4000);
    assert.equal(refused.kind, 'error');
    assert.equal((refused as { misconfigured?: true }).misconfigured, undefined, 'an outage is not a misconfiguration');
    reply = () => matrix(REQUESTS.filter((s) => s.metric.version === 'stable'));
    const noCanary = await source(prom.url).windows(1000, 4000);
    assert.equal(noCanary.kind, 'empty');
    assert.match((noCanary as { message: string }).message, /no canary samples/);
    reply = (q) => matrix(counters(q));
  });

  it('says what is misconfigured: no buckets, a bad query, a sample that is not a count, series from different scrapes', async () => {
    const cases: [(q: string) => Answer, Record<string, unknown>, RegExp][] = [
      [
        (q) => matrix(q.includes('_bucket') ? [] : counters(q)),
        { latency: 'kanari_router_request_duration_seconds' },
        /no histogram buckets/,
      ],
      [
        () => ({ status: 400, body: { status: 'error', errorType: 'bad_data', error: 'invalid regex' } }),
        {},
        /bad_data: invalid regex/,
      ],
      [
        () =>
          matrix([
            series({ version: 'canary' }, [
              [1, 0.5],
              [2, 1],
            ]),
            series({ version: 'stable' }, [
              [1, 1],
              [2, 2],
            ]),
          ]),
        {},
        /not a count/,
      ],
      [
        () =>
          matrix([
            series({ version: 'canary' }, [
              [1, 0],
              [2, 1],
            ]),
            series({ version: 'stable' }, [
              [1.5, 1],
              [2.5, 2],
            ]),
          ]),
        {},
        /share no scrape timestamps/,
      ],
    ];
    for (const [answer, fields, message] of cases) {
      reply = answer;
      const r = await source(prom.url, fields).windows(1000, 4000);
      assert.equal(r.kind, 'error', JSON.stringify(r));
      assert.equal((r as { misconfigured?: true }).misconfigured, true, JSON.stringify(r));
      assert.match((r as { message: string }).message, message);
    }
    reply = (q) => matrix(counters(q));
  });

  it('ends a run as Error when a slow threshold falls between bucket bounds, naming the bounds', async () => {
    reply = (q) =>
      matrix(
        q.includes('_bucket')
          ? ['canary', 'stable'].flatMap((version) =>
              ['0.01', '0.025', '0.05', '+Inf'].map((le) =>
                series({ version, le }, [
                  [1, 0],
                  [2, 5],
                ]),
              ),
            )
          : counters(q),
      );
    const spec = analysisTemplateSpec.parse({
      sequential: {
        source: { prometheus: { address: prom.url } },
        metrics: [{ name: 'slow', kind: 'slow', threshold: '30ms' }],
      },
    });
    const run = AnalysisRun.start('t', spec, 'background', 1000, { service: 'svc', providers: new Providers() });
    await run.tick(4000);
    assert.equal(run.verdict(), 'Error');
    assert.match(run.report().reason, /30 ms is not a bucket bound .* use one of 10 ms, 25 ms, 50 ms/);
    reply = (q) => matrix(counters(q));
  });

  it('keeps a run Running through an outage, recorded once, and takes the missed windows when Prometheus answers again', async () => {
    const spec = analysisTemplateSpec.parse({
      sequential: {
        source: { prometheus: { address: prom.url, latency: false } },
        metrics: [{ name: 'errors', kind: 'errors' }],
      },
    });
    const run = AnalysisRun.start('t', spec, 'background', 1000, { service: 'svc', providers: new Providers() });
    reply = () => ({ status: 503, body: { status: 'error', errorType: 'unavailable', error: 'down' } });
    await run.tick(2000);
    await run.tick(3000);
    assert.equal(run.verdict(), 'Running');
    assert.deepEqual(
      run.measurements.map((m) => m.outcome),
      ['error'],
    );
    reply = (q) => matrix(counters(q));
    await run.tick(4000);
    assert.deepEqual(
      run.measurements.slice(1).map((m) => [m.window.start, m.window.end, (m.value as any).canary.requests]),
      [
        [1000, 2000, 6],
        [2000, 3000, 3],
        [3000, 4000, 7],
      ],
    );
  });
});

describe('latency from classic histogram buckets', () => {
  const cumulative = new Map([
    [0.01, 50],
    [0.025, 80],
    [0.05, 95],
    [Infinity, 100],
  ]);
  const latency = bucketLatency(cumulative);

  it('counts requests above a bound, and above the nearest bound (by ratio) for any other threshold', () => {
    assert.deepEqual(latency.countAbove([0.01, 0.025, 0.05]), [50, 20, 5]);
    assert.deepEqual(latency.countAbove([0.012, 0.03, 1]), [50, 20, 5]);
    assert.equal(nearestBound([0.01, 0.025], 0.015), 0.01); // √(0.01·0.025) ≈ 0.0158 is the midpoint
    assert.equal(nearestBound([0.01, 0.025], 0.016), 0.025);
  });

  it('gives the bound of the bucket holding a quantile', () => {
    assert.deepEqual(
      [0.5, 0.51, 0.9, 0.99].map((q) => latency.quantile(q)),
      [0.01, 0.025, 0.05, 0.05],
    );
    assert.ok(
      Number.isNaN(
        bucketLatency(
          new Map([
            [0.01, 0],
            [Infinity, 0],
          ]),
        ).quantile(0.5),
      ),
    );
  });
});

describe('sequential.source in an AnalysisTemplate', () => {
  it('defaults to the kanari router metrics', () => {
    const spec = analysisTemplateSpec.parse({ sequential: { source: { prometheus: { address: 'http://p:9090' } } } });
    assert.deepEqual(spec.sequential!.source!.prometheus, {
      address: 'http://p:9090',
      labels: { service: '{{service}}' },
      versionLabel: 'version',
      versions: {},
      requests: 'kanari_router_requests_total',
      errors: { label: 'code', regex: '5xx' },
      latency: 'kanari_router_request_duration_seconds',
      timeout: 5000,
      headers: {},
    });
  });

  it('refuses what cannot work, at its path', () => {
    const issues = (prometheus: Record<string, unknown>, metrics?: unknown[]) => {
      const r = analysisTemplateSpec.safeParse({
        sequential: { source: { prometheus }, ...(metrics ? { metrics } : {}) },
      });
      assert.equal(r.success, false);
      return r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    assert.match(
      issues({ address: 'http://p', latency: false }).join('\n'),
      /^sequential\.metrics\.1: metric "latency" \(latency\) needs latency buckets/m,
    );
    assert.match(
      issues({ address: 'http://p', requests: 'rate(x[1m])' }).join('\n'),
      /source\.prometheus\.requests: must be a Prometheus metric name/,
    );
    assert.match(
      issues({ address: 'http://p', labels: { app: '{{version}}' } }).join('\n'),
      /labels\.app: only \{\{service\}\}/,
    );
    assert.match(issues({ address: 'ftp://p' }).join('\n'), /source\.prometheus\.address/);
  });
});
