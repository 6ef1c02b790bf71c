/**
 * Each count preset read through a real Prometheus (Debian's) scraping weight exporters that
 * read the test API server —
 * one behind an HTTPRoute, one behind an Istio VirtualService, one behind an ingress-nginx
 * canary Ingress — with kanari's own counts reader (src/analysis/providers/prometheus-counts.ts):
 * the per-version windows split as the objects say, within sampling error, before and after
 * the weights change, and a worse canary is worse in errors and in latency buckets.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CANARY, createShop, setShopWeights, STABLE } from '../helpers/kube/fixed-api.js';
import { startKubeApiServer, type TestKubeApi } from '../helpers/kube/apiserver.js';
import { WeightExporter, type ExportedRouting } from '../helpers/kube/weight-exporter.js';
import { startPrometheus, type TestPrometheus } from '../helpers/prometheus.js';
import { envoyGatewayCluster, presetCounts, type RequestCountPreset } from '../../src/config/presets/counts.js';
import { PrometheusCountSource } from '../../src/analysis/providers/prometheus-counts.js';
import type { CountWindow } from '../../src/analysis/providers/counts.js';
import { PrometheusProvider } from '../../src/analysis/providers/prometheus.js';
import { prometheusQuery } from '../../src/config/schemas/analysis.js';

const RATE = 300;
const EXPORTED: [RequestCountPreset, ExportedRouting][] = [
  ['envoy-gateway', { gatewayapi: { httpRoute: 'shop' } }],
  ['istio', { istio: { virtualService: 'shop', destinationRule: 'shop' } }],
  ['ingress-nginx', { nginx: { ingress: 'shop' } }],
];
const VERSIONS: Record<RequestCountPreset, { stable: string; canary: string }> = {
  istio: { stable: STABLE, canary: CANARY },
  'ingress-nginx': { stable: STABLE, canary: CANARY },
  'envoy-gateway': {
    stable: envoyGatewayCluster({ namespace: 'web', name: 'shop', rule: 1, backend: 0 }),
    canary: envoyGatewayCluster({ namespace: 'web', name: 'shop', rule: 1, backend: 1 }),
  },
};

interface Totals {
  stable: number;
  canary: number;
  canaryErrors: number;
  stableErrors: number;
  canarySlow: number;
  stableSlow: number;
  bounds: readonly number[];
}

describe('count presets through a real Prometheus scraping the weight exporter', () => {
  let api: TestKubeApi;
  let prom: TestPrometheus;
  const exporters: WeightExporter[] = [];

  before(async () => {
    api = await startKubeApiServer({ deploymentReadyDelayMs: 20 });
    await createShop(api.url, 20);
    const targets: string[] = [];
    for (const [i, [preset, routing]] of EXPORTED.entries()) {
      const e = new WeightExporter({
        apiServer: api.url,
        namespace: 'web',
        routing,
        rate: RATE,
        seed: i + 1,
        presets: preset === 'istio' ? [preset, 'kube-state-metrics'] : [preset],
        behaviour: {
          default: { errorRate: 0.01, latencyMs: { median: 20, sigma: 0.3 } },
          [CANARY]: { errorRate: 0.2, latencyMs: { median: 400, sigma: 0.1 } },
        },
      });
      exporters.push(e);
      targets.push((await e.start()).target);
    }
    prom = await startPrometheus(targets, 'unused');
  });
  after(async () => {
    await prom?.stop();
    await Promise.all(exporters.map((e) => e.stop()));
    await api?.close();
  });

  /** Each preset's windows between `from` and now, summed, once each has `enough` requests. */
  async function totals(from: number, enough: number): Promise<Record<RequestCountPreset, Totals>> {
    const out = {} as Record<RequestCountPreset, Totals>;
    for (let waited = 0; ; waited += 500) {
      for (const [preset] of EXPORTED) {
        const counts = presetCounts(preset, { address: prom.url, namespace: 'web', versions: VERSIONS[preset] });
        const r = await new PrometheusCountSource(counts, 'shop').windows(from, Date.now());
        if (r.kind === 'error') assert.fail(`${preset}: ${r.message}`);
        if (r.kind === 'value') out[preset] = sum(r.windows);
      }
      const have = EXPORTED.map(([p]) => (out[p] ? out[p].stable + out[p].canary : 0));
      if (have.every((n) => n >= enough)) return out;
      if (waited > 60_000)
        assert.fail(
          `after 60 s only ${have.join(', ')} requests counted (exporters: ${exporters.map((e) => e.error)})`,
        );
      await sleep(500);
    }
  }

  it('splits each preset’s counts as the objects say, follows a change of weights, and sees the worse canary', async () => {
    const first = await totals(Date.now() - 1000, 1000);
    for (const [preset] of EXPORTED) {
      const t = first[preset];
      assertShare(preset, t, 0.2);
      assert.ok(
        t.canaryErrors > 0.1 * t.canary && t.stableErrors < 0.05 * t.stable,
        `${preset} errors ${JSON.stringify(t)}`,
      );
      assert.ok(t.bounds.includes(0.25), `${preset}: bounds in seconds, ${t.bounds.join(', ')}`);
      // Above 250 ms: nearly every request of a 400 ms canary, nearly none of a 20 ms stable.
      assert.ok(t.canarySlow > 0.9 * t.canary && t.stableSlow < 0.01 * t.stable, `${preset} slow ${JSON.stringify(t)}`);
    }
    await setShopWeights(api.url, 50);
    // Counting starts once every exporter has read the new weights, so no window mixes the two.
    for (let waited = 0; !exporters.every((e) => canaryShare(e) === 0.5); waited += 100) {
      if (waited > 30_000) assert.fail(`the exporters did not read the new weights: ${exporters.map(canaryShare)}`);
      await sleep(100);
    }
    const second = await totals(Date.now(), 1000);
    for (const [preset] of EXPORTED) assertShare(preset, second[preset], 0.5);
  });

  it("the threshold presets of the same proxies read the exporters' canary alike", async () => {
    const ask = async (preset: string, target: string, quantile?: number) => {
      const q = prometheusQuery.parse({
        address: prom.url,
        preset,
        targets: { canary: target },
        window: '5s',
        quantile,
      });
      const r = await new PrometheusProvider().query(
        { prometheus: q },
        { start: Date.now() - 5000, end: Date.now() },
        { service: 'shop' },
      );
      assert.equal(r.kind, 'value', `${preset}: ${JSON.stringify(r)}`);
      return (r as { value: number }).value;
    };
    const canaryCluster = VERSIONS['envoy-gateway'].canary;
    assert.equal(await ask('kube-state-metrics/available-replicas', CANARY), 1);
    for (const [preset, target] of [
      ['istio/success-rate', CANARY],
      ['envoy-gateway/success-rate', canaryCluster],
      ['nginx/success-rate', CANARY],
    ] as const) {
      const rate = await ask(preset, target);
      assert.ok(rate > 0.6 && rate < 0.95, `${preset}: ${rate} for a canary failing 20%`);
    }
    for (const [preset, target] of [
      ['istio/latency', CANARY],
      ['envoy-gateway/latency', canaryCluster],
      ['nginx/latency', CANARY],
    ] as const) {
      const median = await ask(preset, target, 0.5);
      assert.ok(median > 0.25 && median <= 0.5, `${preset}: median ${median} s for a 400 ms canary`);
    }
  });
});

function canaryShare(e: WeightExporter): number | undefined {
  return e.paths?.[0]?.filter((p) => p.deployment === CANARY).reduce((s, p) => s + p.share, 0);
}

function sum(windows: CountWindow[]): Totals {
  const t: Totals = {
    stable: 0,
    canary: 0,
    canaryErrors: 0,
    stableErrors: 0,
    canarySlow: 0,
    stableSlow: 0,
    bounds: [],
  };
  for (const w of windows) {
    const { canary, stable } = w.versions;
    t.canary += canary.requests;
    t.stable += stable.requests;
    t.canaryErrors += canary.errors;
    t.stableErrors += stable.errors;
    t.canarySlow += canary.latency?.countAbove([0.25])[0] ?? 0;
    t.stableSlow += stable.latency?.countAbove([0.25])[0] ?? 0;
    t.bounds = canary.latency?.bounds ?? t.bounds;
  }
  return t;
}

/** The canary's share of the counted requests within 5 standard deviations of a binomial share. */
function assertShare(preset: string, t: Totals, expected: number): void {
  const n = t.canary + t.stable;
  const sd = Math.sqrt((expected * (1 - expected)) / n);
  assert.ok(Math.abs(t.canary / n - expected) < 5 * sd, `${preset}: canary ${t.canary} of ${n}, expected ${expected}`);
}
