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
  bucketBound,
  bucketLatency,
  nearestBound,
  PrometheusCountSource,
} from '../../../src/analysis/providers/prometheus-counts.js';
import { AnalysisRun } from '../../../src/analysis/run.js';
import { Providers } from '../../../src/analysis/providers/index.js';

type Series = { metric: Record<string, string>; values: [number, string][] };
type Answer = { status: number; body: unknown };

/** A Prometheus API that answers each range query with `answer(query, time)`; the queries asked are kept. */
async function fakePrometheus(answer: (query: string, time: number) => Answer) {
  const queries: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const params = new URLSearchParams(body);
      const query = params.get('query')!;
      queries.push(query);
      const a = answer(query, Number(params.get('time')));
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
  let reply: (q: string, time: number) => Answer = (q) => matrix(counters(q));
  before(async () => (prom = await fakePrometheus((q, t) => reply(q, t))));
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
      // Back to one minute before `after`: enough to tell one target from several from the first check.
      'kanari_router_requests_total{service="svc",version=~"stable|canary|baseline"}[63001ms]',
      'a range selector: raw samples, never rate() or increase()',
    );
    assert.match(prom.queries.at(-1)!, /,code=~"5xx"\}\[63001ms\]$/);
  });

  /** Answers like Prometheus: the samples of `list` in the query's range `(time − range, time]`. */
  const ranged = (list: Series[]) => (q: string, time: number) => {
    const range = Number(/\[(\d+)ms\]$/.exec(q)![1]) / 1000;
    const errors = q.includes('code=~');
    return matrix(
      list
        .filter((s) => !errors || s.metric.code === '5xx')
        .map((s) => ({ ...s, values: s.values.filter(([t]) => t > time - range && t <= time) }))
        .filter((s) => s.values.length > 0),
    );
  };
  /** Checks once a second from 1 s to `last` s, as a run does, each from where the last window ended. */
  async function everySecond(last: number) {
    const out: number[][] = [];
    let through = 1000;
    for (let now = 2000; now <= last * 1000; now += 1000) {
      const r = await source(prom.url).windows(through, now);
      assert.equal(r.kind, 'value', JSON.stringify(r));
      for (const w of (r as { windows: { start: number; end: number; versions: any }[] }).windows) {
        out.push([w.start, w.end, w.versions.canary.requests, w.versions.stable.requests, w.versions.stable.errors]);
        through = w.end;
      }
    }
    return out;
  }

  it('keeps making windows after a series ends (an exporter restart that does not re-create a lazy series)', async () => {
    reply = ranged([
      series({ version: 'canary', code: '2xx' }, [
        [1, 10],
        [2, 20],
        [3, 30],
        [4, 5],
        [5, 15],
      ]),
      series({ version: 'stable', code: '2xx' }, [
        [1, 100],
        [2, 200],
        [3, 300],
        [4, 50],
        [5, 150],
      ]),
      series({ version: 'stable', code: '5xx' }, [
        [1, 1],
        [2, 2],
        [3, 2],
      ]),
    ]);
    assert.deepEqual(await everySecond(5), [
      [1000, 2000, 10, 101, 1],
      [2000, 3000, 10, 100, 0],
      [3000, 4000, 5, 50, 0], // the restart: counts since it; the ended 5xx series is left out
      [4000, 5000, 10, 100, 0],
    ]);
    reply = (q) => matrix(counters(q));
  });

  it("counts a series that appears mid-analysis from zero, without dropping anyone else's windows", async () => {
    reply = ranged([
      series({ version: 'canary', code: '2xx' }, [
        [1, 10],
        [2, 20],
        [3, 30],
        [4, 40],
      ]),
      series({ version: 'canary', code: '5xx' }, [
        [3, 4],
        [4, 9],
      ]),
      series({ version: 'stable', code: '2xx' }, [
        [1, 100],
        [2, 200],
        [3, 300],
        [4, 400],
      ]),
    ]);
    const r = await source(prom.url).windows(1000, 4000);
    assert.equal(r.kind, 'value', JSON.stringify(r));
    assert.deepEqual(
      (r as { windows: { start: number; end: number; versions: any }[] }).windows.map((w) => [
        w.start,
        w.end,
        w.versions.canary.requests,
        w.versions.canary.errors,
        w.versions.stable.requests,
      ]),
      [
        [1000, 2000, 10, 0, 100],
        [2000, 3000, 14, 4, 100], // code="5xx" was created after 2 s and had counted 4 by 3 s
        [3000, 4000, 15, 5, 100],
      ],
    );
    reply = (q) => matrix(counters(q));
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

  it('says what is misconfigured: no buckets, a bad query, a sample that is not a count', async () => {
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

  it('tells several targets apart from the first check of a run that looks every second, and counts every pod', async () => {
    // One canary pod and two stable pods, scraped every 10 s at their own offsets; each adds 100 a scrape.
    const scraped = (labels: Record<string, string>, offset: number) =>
      series(
        labels,
        Array.from({ length: 30 }, (_, i): [number, number] => [offset + 10 * i, 100 * i]),
      );
    reply = ranged([
      scraped({ version: 'canary', code: '2xx', pod: 'c' }, 0.3),
      scraped({ version: 'stable', code: '2xx', pod: 's1' }, 3.1),
      scraped({ version: 'stable', code: '2xx', pod: 's2' }, 6.7),
    ]);
    const src = source(prom.url);
    let through = 120_000;
    const totals = { canary: 0, stable: 0 };
    for (let now = 121_000; now <= 240_000; now += 1000) {
      const r = await src.windows(through, now);
      assert.equal(r.kind, 'value', JSON.stringify(r));
      for (const w of (r as { windows: { end: number; versions: any }[] }).windows) {
        totals.canary += w.versions.canary.requests;
        totals.stable += w.versions.stable.requests;
        through = w.end;
      }
    }
    // Whatever the windows, every scrape after 120 s up to the last window's end is counted once, from each pod.
    const scrapes = (offset: number) =>
      Array.from({ length: 30 }, (_, i) => offset + 10 * i).filter((t) => t * 1000 > 120_000 && t * 1000 <= through)
        .length;
    assert.ok(through >= 200_000, `windows reached ${through}`);
    assert.deepEqual(totals, { canary: 100 * scrapes(0.3), stable: 100 * (scrapes(3.1) + scrapes(6.7)) });
    reply = (q) => matrix(counters(q));
  });

  it('reads back four scrape intervals when they are long, so a pod that missed a scrape is not taken for a new one (and its total counted)', async () => {
    // Prometheus' default: a scrape a minute. The canary pod, at a million requests already, misses the one at 540 s.
    const at = (offset: number, skip?: number) =>
      Array.from({ length: 15 }, (_, i) => offset + 60 * i).filter((t) => t !== skip);
    reply = ranged([
      series(
        { version: 'canary', code: '2xx', pod: 'c' },
        at(0.3, 540.3).map((t) => [t, 1_000_000 + Math.round(t)]),
      ),
      series(
        { version: 'stable', code: '2xx', pod: 's' },
        at(20.9).map((t) => [t, 5_000_000 + Math.round(10 * t)]),
      ),
    ]);
    const src = source(prom.url);
    let through = 600_000;
    let canary = 0;
    for (let now = 601_000; now <= 840_000; now += 1000) {
      const r = await src.windows(through, now);
      assert.equal(r.kind, 'value', JSON.stringify(r));
      for (const w of (r as { windows: { end: number; versions: any }[] }).windows) {
        canary += w.versions.canary.requests;
        through = w.end;
      }
    }
    assert.ok(through > 600_000, 'windows came');
    assert.ok(canary < 1000, `the canary counted ${canary} requests, not its total since it started`);
    reply = (q) => matrix(counters(q));
  });

  it('cuts windows one scrape interval wide when several targets export the series (no shared timestamps)', async () => {
    // Two canary pods and one stable pod, each its own target, scraped every 2 s at its own
    // offset; canary-b restarts, and canary-c first appears at 13.7 s (its first request).
    const pods = [
      series(
        { version: 'canary', code: '2xx', pod: 'a' },
        [0.3, 2.3, 4.3, 6.3, 8.3, 10.3, 12.3, 14.3, 16.3].map((t, i) => [t, 5 * i]),
      ),
      series({ version: 'canary', code: '2xx', pod: 'b' }, [
        [1.1, 40],
        [3.1, 42],
        [5.1, 44],
        [7.1, 46],
        [9.1, 1], // restarted: 1 since
        [11.1, 3],
        [13.1, 5],
        [15.1, 7],
      ]),
      series({ version: 'canary', code: '2xx', pod: 'c' }, [
        [13.7, 4],
        [15.7, 6],
      ]),
      series(
        { version: 'stable', code: '2xx', pod: 's' },
        [0.9, 2.9, 4.9, 6.9, 8.9, 10.9, 12.9, 14.9, 16.9].map((t, i) => [t, 1000 + 20 * i]),
      ),
    ];
    reply = ranged(pods);
    const src = source(prom.url);
    const first = await src.windows(6000, 17_000);
    assert.equal(first.kind, 'value', JSON.stringify(first));
    // The first answer finds the targets apart and asks again from a minute before `after`.
    assert.match(prom.queries.at(-1)!, /\[71001ms\]$/);
    const windows = (first as { windows: { start: number; end: number; versions: any }[] }).windows;
    assert.deepEqual(
      windows.map((w) => [w.start, w.end, w.versions.canary.requests, w.versions.stable.requests]),
      [
        // (6, 8]: a 6.3→8.3 +5, b 5.1→7.1 +2; s 4.9→6.9 +20
        [6000, 8000, 7, 20],
        // (8, 10]: a +5, b 7.1→9.1 restart +1; s +20
        [8000, 10_000, 6, 20],
        // (10, 12]: a +5, b +2; s +20
        [10_000, 12_000, 7, 20],
        // (12, 14] waits for (14, 16], which shows its end is steady; 14 + 2 > 17 − 2: not
        // yet, a target scraped just before 16 may not be stored
      ],
    );
    // The next check goes on from where the last window ended, counting each increase once.
    const next = await src.windows(12_000, 19_000);
    const more = (next as { windows: { start: number; end: number; versions: any }[] }).windows;
    assert.deepEqual(
      more.map((w) => [w.start, w.end, w.versions.canary.requests, w.versions.stable.requests]),
      // (12, 14]: a +5, b +2, c appears with 4 (counted from zero); s +20. (14, 16] waits.
      [[12_000, 14_000, 11, 20]],
    );
    reply = (q) => matrix(counters(q));
  });

  it('joins grid windows where the error rate jumps, so a burst at an edge is not split by scrape offsets', async () => {
    // One canary and one stable target, scraped every 2 s at 0.5 s and 1.5 s; a shared
    // dependency fails at 7.2 s, 20 errors each. Stable's next scrape (7.5) is before the
    // edge at 8, canary's (8.5) after it: on the bare grid (6, 8] would hold all of
    // stable's burst and none of canary's, evidence against stable out of nothing.
    const pod = (version: string, offset: number) => [
      series(
        { version, code: '2xx' },
        Array.from({ length: 10 }, (_, k) => [offset + 2 * k, 1000 * k]),
      ),
      series(
        { version, code: '5xx' },
        Array.from({ length: 10 }, (_, k) => [offset + 2 * k, offset + 2 * k > 7.2 ? 20 : 0]),
      ),
    ];
    reply = ranged([...pod('canary', 0.5), ...pod('stable', 1.5)]);
    const r = await source(prom.url).windows(2000, 20_000);
    const windows = (r as { windows: { start: number; end: number; versions: any }[] }).windows;
    assert.deepEqual(
      windows.map((w) => [w.start, w.end, w.versions.canary.errors, w.versions.stable.errors]),
      [
        [2000, 4000, 0, 0],
        // (4, 6] is steady before but not after; the burst shows in (6, 8] and (8, 10], and
        // (10, 12] is quiet only after it: the window ends where both sides agree.
        [4000, 14_000, 20, 20],
        [14_000, 16_000, 0, 0],
        // (16, 18] waits for (18, 20], which is not closed yet.
      ],
    );
    assert.deepEqual(
      windows.map((w) => [w.versions.canary.requests, w.versions.stable.requests]),
      [
        [1000, 1000],
        [5000 + 20, 5000 + 20],
        [1000, 1000],
      ],
    );
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

  it('reads bounds in milliseconds (Istio, Envoy) as seconds when latencyUnit says so', async () => {
    // Cumulative per bound between the two scrapes: 4 at ≤ 25 ms, 5 at ≤ 250 ms, 6 in all.
    const bucket = (le: string, n: number) =>
      ['canary', 'stable'].map((version) =>
        series({ version, le }, [
          [1, 0],
          [2, n],
        ]),
      );
    reply = (q) =>
      matrix(q.includes('_bucket') ? [...bucket('25', 4), ...bucket('250', 5), ...bucket('+Inf', 6)] : counters(q));
    const read = async (latencyUnit: string) => {
      const r = await source(prom.url, { latency: 'istio_request_duration_milliseconds', latencyUnit }).windows(
        1000,
        2000,
      );
      assert.equal(r.kind, 'value', JSON.stringify(r));
      return (
        r as {
          windows: {
            versions: { canary: { latency: { bounds: readonly number[]; countAbove(t: number[]): number[] } } };
          }[];
        }
      ).windows[0]!.versions.canary.latency;
    };
    const ms = await read('milliseconds');
    assert.deepEqual(ms.bounds, [0.025, 0.25]);
    assert.deepEqual(ms.countAbove([0.025, 0.25]), [2, 1], 'above 25 ms: 2; above 250 ms: 1');
    assert.deepEqual((await read('seconds')).bounds, [25, 250], 'the default reads bounds as seconds');
    assert.throws(() => prometheusCounts.parse({ address: prom.url, latencyUnit: 'minutes' }), /latencyUnit/);
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

describe('version label values', () => {
  it('name each version by its instance: {{stable}}, {{canary}} and {{baseline}} are filled in for the run', () => {
    const config = prometheusCounts.parse({
      address: 'http://127.0.0.1:9',
      versionLabel: 'destination_workload',
      versions: { stable: '{{service}}-{{stable}}', canary: '{{service}}-{{canary}}' },
    });
    const source = new PrometheusCountSource(config, 'web', { stable: '1a2b3c4d5e', canary: 'f0e9d8c7b6' });
    assert.match(
      source.selector('istio_requests_total'),
      /destination_workload=~"web-1a2b3c4d5e\|web-f0e9d8c7b6\|baseline"/,
    );
  });
});

describe('latency from classic histogram buckets', () => {
  it('reads le="+Inf" as the infinite bound, not NaN', () => {
    assert.deepEqual(
      ['0.005', '1', '+Inf'].map((le) => bucketBound(le)),
      [0.005, 1, Infinity],
    );
  });

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
      latencyUnit: 'seconds',
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
