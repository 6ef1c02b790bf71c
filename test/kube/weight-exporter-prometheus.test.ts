/**
 * Each count preset read through a real Prometheus (Debian's) scraping weight exporters —
 * one behind an HTTPRoute, one behind an Istio VirtualService, one behind an ingress-nginx
 * canary Ingress — with kanari's own counts reader (src/analysis/providers/prometheus-counts.ts):
 * the per-version windows split as the objects say, within sampling error, before and after
 * the weights change, and a worse canary is worse in errors and in latency buckets.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CANARY, shopObjects, STABLE, startFixedApi, type FixedApi } from '../helpers/kube/fixed-api.js';
import { WeightExporter, type ExportedRouting } from '../helpers/kube/weight-exporter.js';
import { startPrometheus, type TestPrometheus } from '../helpers/prometheus.js';
import { envoyGatewayCluster, presetCounts, type RequestCountPreset } from '../../src/config/presets/counts.js';
import { PrometheusCountSource } from '../../src/analysis/providers/prometheus-counts.js';
import type { CountWindow } from '../../src/analysis/providers/counts.js';

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
  let api: FixedApi;
  let prom: TestPrometheus;
  const exporters: WeightExporter[] = [];

  before(async () => {
    api = await startFixedApi(shopObjects(20));
    const targets: string[] = [];
    for (const [i, [preset, routing]] of EXPORTED.entries()) {
      const e = new WeightExporter({
        apiServer: api.url,
        namespace: 'web',
        routing,
        rate: RATE,
        seed: i + 1,
        presets: [preset],
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
    for (const [path, object] of Object.entries(shopObjects(50))) api.objects.set(path, object);
    await sleep(1500); // a refresh of the objects and a scrape after it
    const second = await totals(Date.now(), 1000);
    for (const [preset] of EXPORTED) assertShare(preset, second[preset], 0.5);
  });
});

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
