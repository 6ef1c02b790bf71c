/**
 * The sequential judge fed from a real Prometheus (Debian package) scraping two real
 * routers' /metrics, against the same judge fed from the routers' own `GET /stats`: one
 * router in front of a bad canary (more errors, slower), one in front of two copies of
 * the same app (A/A). Load comes in bursts with 3 s of quiet between them.
 *
 * Scrape alignment, the one allowance: a Prometheus interval runs between two scrape
 * timestamps, a router-stats interval between two `/stats` reads, so the two cut time at
 * different places and single intervals differ. Counts over an interval that starts and
 * ends in quiet do not: summed per burst, requests, errors and requests above every
 * bucket bound must be equal exactly, per version. The judge fed one window per burst
 * from each source must then give the same e-values (to 1e-9, floating point); fed the
 * sources' own intervals, as a run is, both must reach Failed on the bad canary and
 * neither on the A/A pair.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { normalQuantile } from '../../src/analysis/stats/special.js';
import { analysisTemplateSpec, prometheusCounts } from '../../src/config/schemas/analysis.js';
import { LATENCY_BUCKETS } from '../../src/router/metrics.js';
import { BuiltinCounts, StatsRecorder } from '../../src/analysis/providers/builtin.js';
import { comparisonOf, type CountSource, type CountWindow } from '../../src/analysis/providers/counts.js';
import { PrometheusCountSource } from '../../src/analysis/providers/prometheus-counts.js';
import { Providers } from '../../src/analysis/providers/index.js';
import { AnalysisRun } from '../../src/analysis/run.js';
import { SequentialJudge, type SequentialSettings } from '../../src/analysis/judges/sequential/judge.js';
import { VERSIONS } from '../../src/config/schemas/table.js';
import { sendMany } from '../helpers/load.js';
import { startPrometheus, type TestPrometheus } from '../helpers/prometheus.js';
import { startTestRouter, TOKEN, type TestRouter } from '../helpers/router.js';

const BURSTS = 6;
const PER_BURST = 400;
const QUIET_MS = 3000;
// α = 0.001 for the judge; the A/A pair cannot fail by chance whatever α is, as its apps' errors and latencies are not drawn (evenApp).
const SETTINGS: SequentialSettings = {
  alpha: 0.001,
  metrics: [
    { name: 'errors', kind: 'errors', weight: 2 },
    { name: 'slow', kind: 'slow', threshold: 0.025, weight: 1 },
  ],
  srm: false,
  promotion: { minRequests: 0 },
};
const TEMPLATE = {
  alpha: 0.001,
  metrics: [
    { name: 'errors', kind: 'errors', weight: 2 },
    { name: 'latency', kind: 'latency', weight: 1 },
  ],
};

/**
 * An app answering with `errorRate` of its requests failed, evenly spaced, after a latency
 * log-normal around `latencyMs` (σ = 0.5, as the demo app's) taken at low-discrepancy
 * quantiles: a fixed sequence, not drawn. Two copies then put the same share of their
 * requests in every error and latency count, so the A/A pair cannot fail by chance (drawn
 * at random, as the demo app does, it reached the judge's 1/α up to about 1 run in 1,000);
 * which version each request meets is still the router's draw.
 */
async function evenApp(errorRate: number, latencyMs: number): Promise<{ port: number; server: http.Server }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    const i = n++;
    const failed = Math.floor((i + 1) * errorRate) > Math.floor(i * errorRate);
    const delay = latencyMs * Math.exp(0.5 * normalQuantile((((i + 1) * (Math.sqrt(5) - 1)) / 2) % 1));
    req.resume();
    req.on('end', () =>
      setTimeout(() => res.writeHead(failed ? 500 : 200, { 'content-type': 'text/plain' }).end('ok\n'), delay),
    );
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { port: (server.address() as AddressInfo).port, server };
}

interface World {
  name: string;
  router: TestRouter;
  recorder: StatsRecorder;
  sources: Record<'builtin' | 'prometheus', CountSource>;
  /** Every interval each source gave, asked for as a run asks: from the last one's end to now, each second. */
  windows: Record<'builtin' | 'prometheus', CountWindow[]>;
  runs: Record<'builtin' | 'prometheus', AnalysisRun>;
  outcomes: string[];
}

describe('sequential judge: counts from Prometheus agree with the router’s own stats', () => {
  let prom: TestPrometheus;
  const apps: { close(): void }[] = [];
  const worlds: World[] = [];
  const bursts: { start: number; end: number }[] = [];
  let origin = 0;
  let ticking: Promise<void> = Promise.resolve();

  async function world(name: string, canary: { errorRate: number; latencyMs: number }): Promise<World> {
    const stable = await evenApp(0.02, 5);
    const next = await evenApp(canary.errorRate, canary.latencyMs);
    apps.push(stable.server, next.server);
    const router = await startTestRouter({
      pools: { stable: [`http://127.0.0.1:${stable.port}`], canary: [`http://127.0.0.1:${next.port}`] },
      weights: { canary: 50 },
    });
    const recorder = new StatsRecorder();
    const sources = {} as World['sources'];
    const runs = {} as World['runs'];
    return { name, router, recorder, sources, windows: { builtin: [], prometheus: [] }, runs, outcomes: [] };
  }

  async function readStats(w: World): Promise<void> {
    const stats = await w.router.admin('GET', '/stats');
    w.recorder.record(stats.json);
  }

  /** One second after another, never two at once, however slow the machine. */
  function second(): Promise<void> {
    ticking = ticking.then(tick);
    return ticking;
  }

  /** What the controller does every second: read the router's stats, ask each source for new intervals, tick the runs. */
  async function tick(): Promise<void> {
    const now = Date.now();
    for (const w of worlds) {
      await readStats(w);
      for (const kind of ['builtin', 'prometheus'] as const) {
        const list = w.windows[kind];
        const r = await w.sources[kind].windows(list.at(-1)?.end ?? origin, now);
        if (r.kind !== 'value') w.outcomes.push(`${kind}: ${r.kind} ${r.message}`);
        else list.push(...r.windows);
        await w.runs[kind].tick(now);
      }
    }
  }

  before(async () => {
    const bad = await world('bad canary', { errorRate: 0.08, latencyMs: 10 });
    const same = await world('A/A', { errorRate: 0.02, latencyMs: 5 });
    worlds.push(bad, same);
    prom = await startPrometheus(
      worlds.map((w) => w.router.adminUrl.replace(/^http:\/\//, '')),
      TOKEN,
    );
    origin = Date.now();
    for (const w of worlds) {
      const instance = w.router.adminUrl.replace(/^http:\/\//, '');
      // Both routers call their service "svc"; Prometheus's instance label tells them apart.
      const prometheus = { address: prom.url, labels: { service: '{{service}}', instance } };
      Object.assign(w.sources, {
        builtin: new BuiltinCounts(w.recorder),
        prometheus: new PrometheusCountSource(prometheusCounts.parse(prometheus), 'svc'),
      });
      // As the engine would say of this table: half the requests and half the users to the canary all along.
      const env = {
        service: 'svc',
        providers: new Providers(),
        recorder: w.recorder,
        expectedShareAt: () => ({ requests: 0.5, keys: 0.5, control: 'stable' as const }),
      };
      Object.assign(w.runs, {
        builtin: AnalysisRun.start(
          'b',
          analysisTemplateSpec.parse({ sequential: TEMPLATE }),
          'background',
          origin,
          env,
        ),
        prometheus: AnalysisRun.start(
          'p',
          analysisTemplateSpec.parse({ sequential: { ...TEMPLATE, source: { prometheus } } }),
          'background',
          origin,
          env,
        ),
      });
      await readStats(w);
    }
    const ticker = setInterval(() => void second(), 1000);
    try {
      await new Promise((r) => setTimeout(r, 1500));
      for (let i = 0; i < BURSTS; i++) {
        const burst = { start: Date.now(), end: 0 };
        await Promise.all(worlds.map((w) => sendMany(w.router.port, PER_BURST, 8)));
        burst.end = Date.now();
        bursts.push(burst);
        await new Promise((r) => setTimeout(r, QUIET_MS));
      }
    } finally {
      clearInterval(ticker);
    }
    await second();
  });

  after(async () => {
    await prom?.stop();
    for (const w of worlds) await w.router.close();
    for (const a of apps) a.close();
  });

  /** Sums each source's intervals per burst; an interval holding traffic of two bursts cannot be placed. */
  function perBurst(windows: CountWindow[]) {
    const sums = bursts.map(() =>
      VERSIONS.map(() => ({ requests: 0, errors: 0, above: LATENCY_BUCKETS.map(() => 0) })),
    );
    for (const w of windows) {
      if (VERSIONS.every((v) => w.versions[v].requests === 0)) continue;
      const k = bursts.findIndex(
        (b, i) => w.end > b.start && (i + 1 === bursts.length || w.end <= bursts[i + 1]!.start),
      );
      assert.ok(k >= 0, `an interval with traffic ends at ${w.end}, before the first burst`);
      assert.ok(k === 0 || w.start >= bursts[k - 1]!.end, `interval ${w.start}–${w.end} spans two bursts`);
      VERSIONS.forEach((v, i) => {
        const s = sums[k]![i]!;
        const c = w.versions[v];
        s.requests += c.requests;
        s.errors += c.errors;
        c.latency!.countAbove(LATENCY_BUCKETS).forEach((n, j) => (s.above[j]! += n));
      });
    }
    return sums;
  }

  it('counts the same requests, errors and slow requests per burst, in whole numbers, from contiguous intervals', () => {
    for (const w of worlds) {
      assert.deepEqual(w.outcomes, [], `${w.name}: every answer was a value`);
      const prom = w.windows.prometheus;
      assert.ok(prom.length >= BURSTS * 3, `${w.name}: ${prom.length} Prometheus intervals`);
      for (let i = 1; i < prom.length; i++)
        assert.equal(prom[i]!.start, prom[i - 1]!.end, 'each interval begins where the last ended');
      for (const win of prom)
        for (const v of VERSIONS)
          assert.ok(Number.isInteger(win.versions[v].requests) && win.versions[v].requests >= 0);
      const [fromProm, fromStats] = [perBurst(prom), perBurst(w.windows.builtin)];
      assert.deepEqual(fromProm, fromStats, `${w.name}: per-burst counts, Prometheus vs the router's stats`);
      const canary = fromStats.reduce((n, b) => n + b[VERSIONS.indexOf('canary')]!.requests, 0);
      const stable = fromStats.reduce((n, b) => n + b[VERSIONS.indexOf('stable')]!.requests, 0);
      assert.equal(canary + stable, BURSTS * PER_BURST, `${w.name}: every request was counted once`);
    }
  });

  it('gives the judge the same e-value trajectory from either source, burst by burst', (t) => {
    for (const w of worlds) {
      const trajectory = (windows: CountWindow[]) => {
        const judge = new SequentialJudge(SETTINGS);
        return perBurst(windows).map((b) => {
          const side = (v: (typeof VERSIONS)[number]) => {
            const s = b[VERSIONS.indexOf(v)]!;
            const above = s.above[LATENCY_BUCKETS.indexOf(0.025)]!;
            return {
              requests: s.requests,
              errors: s.errors,
              latency: { countAbove: () => [above], quantile: () => NaN },
            };
          };
          judge.observe(
            comparisonOf({
              start: 0,
              end: 0,
              versions: { stable: side('stable'), canary: side('canary'), baseline: side('baseline') },
            }),
          );
          return judge.report().metrics.map((m) => m.eValue);
        });
      };
      const [fromProm, fromStats] = [trajectory(w.windows.prometheus), trajectory(w.windows.builtin)];
      fromStats.forEach((es, k) =>
        es.forEach((e, j) => {
          const p = fromProm[k]![j]!;
          assert.ok(Math.abs(p - e) <= 1e-9 * Math.max(1, e), `${w.name}: burst ${k} metric ${j}: ${p} vs ${e}`);
        }),
      );
      t.diagnostic(
        `${w.name}: e-values (errors, slow) after each burst: ${fromStats.map((es) => es.map((e) => e.toPrecision(3)).join('/')).join(', ')}`,
      );
      const last = fromStats.at(-1)!;
      if (w.name === 'A/A')
        assert.ok(
          last.every((e) => e < 1 / SETTINGS.alpha),
          `A/A e-values ${last}`,
        );
      else assert.ok(last[0]! >= 1 / (SETTINGS.alpha * (2 / 3)), `bad canary errors e-value ${last[0]}`);
    }
  });

  it('reaches Failed from both sources on the bad canary, and from neither on A/A, with its own intervals', (t) => {
    for (const w of worlds)
      for (const kind of ['builtin', 'prometheus'] as const) {
        const report = w.runs[kind].report();
        t.diagnostic(
          `${w.name} from ${kind}: ${report.verdict} after ${report.measurements} intervals; ${report.reason}`,
        );
        if (w.name === 'A/A') assert.equal(report.verdict, 'Running', `A/A from ${kind}: ${report.reason}`);
        else assert.equal(report.verdict, 'Failed', `bad canary from ${kind}: ${report.reason}`);
      }
  });
});
