/**
 * The prometheus provider against a real Prometheus (Debian package) that scrapes a real
 * router's /metrics, while real traffic flows to a healthy stable and a canary that
 * fails 20% of its requests.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { once } from 'node:events';
import { listenApp } from '../../../src/demo/app.js';
import { prometheusQuery, type PrometheusQuery } from '../../../src/config/schemas/analysis.js';
import { PrometheusProvider, renderPromQL } from '../../../src/analysis/providers/prometheus.js';
import type { MetricResult } from '../../../src/analysis/providers/types.js';
import { sendMany } from '../../helpers/load.js';
import { startPrometheus, type TestPrometheus } from '../../helpers/prometheus.js';
import { startTestRouter, TOKEN, type TestRouter } from '../../helpers/router.js';

const provider = new PrometheusProvider();
const context = { service: 'svc' };

function query(prom: TestPrometheus | string, fields: Record<string, unknown>): { prometheus: PrometheusQuery } {
  return { prometheus: prometheusQuery.parse({ address: typeof prom === 'string' ? prom : prom.url, ...fields }) };
}

function valueOf(r: MetricResult): number {
  assert.equal(r.kind, 'value', JSON.stringify(r));
  return (r as { value: number }).value;
}

describe('prometheus provider with a real Prometheus scraping a real router', () => {
  let router: TestRouter;
  let prom: TestPrometheus;
  const apps: { close(): void }[] = [];
  let start = 0;

  before(async () => {
    const stable = await listenApp({ name: 'v1', port: 0, errorRate: 0 });
    const canary = await listenApp({ name: 'v2', port: 0, errorRate: 0.2, latencyMs: 20 });
    apps.push(stable.server, canary.server);
    router = await startTestRouter({
      pools: { stable: [`http://127.0.0.1:${stable.port}`], canary: [`http://127.0.0.1:${canary.port}`] },
      weights: { canary: 50 },
    });
    const adminHostPort = router.adminUrl.replace(/^http:\/\//, '');
    prom = await startPrometheus(adminHostPort, TOKEN);
    start = Date.now();
    // Traffic over a few scrapes, so rate() has points on both sides of it.
    for (let i = 0; i < 6; i++) {
      await sendMany(router.port, 150, 8);
      await new Promise((r) => setTimeout(r, 500));
    }
    // Wait until Prometheus has scraped the final counts.
    const want = (await router.admin('GET', '/stats')).json.versions.canary.requests;
    const total = Object.values(want as Record<string, number>).reduce((a, b) => a + b, 0);
    for (let i = 0; ; i++) {
      const r = await provider.query(
        query(prom, { query: 'sum(kanari_router_requests_total{version="canary"})' }),
        { start, end: Date.now() },
        context,
      );
      if (r.kind === 'value' && r.value === total) break;
      if (i > 100)
        throw new Error(
          `prometheus never saw the router's ${total} canary requests (last answer ${JSON.stringify(r)})`,
        );
      await new Promise((res) => setTimeout(res, 200));
    }
  });

  after(async () => {
    await prom?.stop();
    await router?.close();
    for (const a of apps) a.close();
  });

  it("reads the canary and stable success rates through the kanari preset, matching the router's own counts", async () => {
    const stats = (await router.admin('GET', '/stats')).json;
    const canaryReq = stats.versions.canary.requests as Record<string, number>;
    const canaryTotal = Object.values(canaryReq).reduce((a, b) => a + b, 0);
    const truth = 1 - canaryReq['5xx']! / canaryTotal;
    assert.ok(canaryTotal > 300, `canary served ${canaryTotal}`);
    const window = { start, end: Date.now() };
    const canary = valueOf(
      await provider.query(query(prom, { preset: 'kanari/success-rate', window: '1m' }), window, context),
    );
    const stable = valueOf(
      await provider.query(
        query(prom, { preset: 'kanari/success-rate', version: 'stable', window: '1m' }),
        window,
        context,
      ),
    );
    assert.ok(Math.abs(canary - truth) < 0.03, `prometheus says ${canary}, the router counted ${truth}`);
    assert.ok(canary > 0.7 && canary < 0.9, `canary success rate ${canary}`);
    assert.equal(stable, 1);
  });

  it('reads a latency quantile in seconds and a series from a range query', async () => {
    const end = Date.now();
    const p50 = valueOf(
      await provider.query(
        query(prom, { preset: 'kanari/latency', quantile: 0.5, window: '1m' }),
        { start, end },
        context,
      ),
    );
    assert.ok(p50 > 0.01 && p50 < 0.05, `canary p50 ${p50} s (the app's median is 20 ms)`);
    const r = await provider.query(
      query(prom, { preset: 'kanari/request-rate', window: '5s' }),
      { start: end - 10_000, end },
      context,
      { step: 1000 },
    );
    assert.equal(r.kind, 'value', JSON.stringify(r));
    assert.ok(r.kind === 'value' && Array.isArray(r.series) && r.series.length >= 5, JSON.stringify(r));
  });

  it('tells empty, error and timeout apart — never a silent zero', async () => {
    const window = { start, end: Date.now() };
    const nothing = await provider.query(query(prom, { query: 'no_such_metric_total' }), window, context);
    assert.deepEqual(nothing, { kind: 'empty', message: 'the query matched no series' });
    const noTraffic = await provider.query(
      query(prom, { preset: 'kanari/success-rate', version: 'baseline', window: '1m' }),
      window,
      context,
    );
    assert.equal(noTraffic.kind, 'empty', `0/0 for a version without traffic: ${JSON.stringify(noTraffic)}`);
    const bad = await provider.query(
      query(prom, { query: 'sum(rate(kanari_router_requests_total[1m]' }),
      window,
      context,
    );
    assert.equal(bad.kind, 'error');
    assert.match((bad as { message: string }).message, /Prometheus 400 bad_data/);

    const silent = net.createServer(() => {}).listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const port = (silent.address() as net.AddressInfo).port;
    const slow = await provider.query(
      query(`http://127.0.0.1:${port}`, { query: 'up', timeout: '300ms' }),
      window,
      context,
    );
    silent.close();
    assert.equal(slow.kind, 'timeout', JSON.stringify(slow));
    const refused = await provider.query(query(`http://127.0.0.1:${port}`, { query: 'up' }), window, context);
    assert.equal(refused.kind, 'error');
    assert.match((refused as { message: string }).message, /ECONNREFUSED/);
  });

  it("fills the Istio and NGINX presets with the version's target name", () => {
    const window = { start: 0, end: 60_000 };
    const istio = renderPromQL(
      prometheusQuery.parse({
        address: 'http://p:9090',
        preset: 'istio/latency',
        quantile: 0.99,
        targets: { canary: 'checkout-canary' },
      }),
      window,
      { service: 'checkout' },
    );
    assert.equal(
      istio,
      'histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload="checkout-canary"}[60s]))) / 1000',
    );
    const nginx = renderPromQL(
      prometheusQuery.parse({ address: 'http://p:9090', preset: 'nginx/success-rate', version: 'stable' }),
      window,
      { service: 'checkout' },
    );
    assert.match(nginx, /service="checkout-stable",status!~"5\.\*"\}\[60s\]/);
  });

  it('fills {{target}} with the name kanari runs the version under (a Deployment on Kubernetes) unless targets names one', () => {
    const window = { start: 0, end: 60_000 };
    const context = { service: 'checkout', targets: { canary: 'checkout-9f8e7d6c5b', stable: 'checkout-1a2b3c4d5e' } };
    const preset = { address: 'http://p:9090', preset: 'istio/success-rate' };
    assert.match(
      renderPromQL(prometheusQuery.parse(preset), window, context),
      /destination_workload="checkout-9f8e7d6c5b",response_code/,
    );
    assert.match(
      renderPromQL(prometheusQuery.parse({ ...preset, version: 'stable' }), window, context),
      /destination_workload="checkout-1a2b3c4d5e",response_code/,
    );
    const named = prometheusQuery.parse({ ...preset, targets: { canary: 'checkout-preview' } });
    assert.match(renderPromQL(named, window, context), /destination_workload="checkout-preview",response_code/);
    // No baseline runs: the name falls back to <service>-<version>, which matches nothing rather than another version.
    const baseline = prometheusQuery.parse({ ...preset, version: 'baseline' });
    assert.match(renderPromQL(baseline, window, context), /destination_workload="checkout-baseline",response_code/);
  });
});
