/**
 * The weight exporter (test-only): stands in for a mesh or ingress that carries users. It
 * reads the weights kanari wrote (weight-reader.ts, its own plain GETs), sends a given
 * request rate along them, each version answering with the error rate and latency the test
 * sets, and exposes what each proxy would count — Istio's, Envoy Gateway's,
 * ingress-nginx's and kube-state-metrics' names and labels at once — at /metrics for a
 * real Prometheus. Counters advance by a ticker; the same seed and ticks give the same counts.
 * With `scrapeTargets` > 1 it serves as several targets, each counting a share of the
 * requests under its own `pod` label, as Istio's sidecars do (one target per pod).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { even as evenly, Random } from '../../../src/analysis/stats/random.js';
import { COUNT_PRESETS, type CountPreset } from '../../../src/config/presets/counts.js';
import {
  apiGet,
  ExporterError,
  WeightReader,
  type ExportedRouting,
  type Get,
  type RequestHeaders,
  type TrafficPath,
} from './weight-reader.js';

export { ExporterError, type ExportedRouting, type TrafficPath };

/** How one version answers: a share of 5xx, and a log-normal latency (median, and σ of its log). */
export interface VersionBehaviour {
  errorRate: number;
  latencyMs: { median: number; sigma: number };
}

export interface WeightExporterOptions {
  /** The API server (plain HTTP), or a reader of its JSON for tests without one. */
  apiServer: string | Get;
  namespace: string;
  routing: ExportedRouting;
  /** Requests per second of exporter time. */
  rate: number;
  seed: number;
  /** By Deployment name; `default` for the rest. */
  behaviour: Record<string, VersionBehaviour> & { default: VersionBehaviour };
  /** Kinds of request and their share (default: all plain); a header or cookie route sees its own. */
  requests?: { share: number; headers: RequestHeaders }[];
  /** The ticker's period; each tick sends rate × tick requests (the fraction carried over). */
  tickMs?: number;
  /** Whose metrics to expose (default all): one Prometheus may scrape exporters of several routers. */
  presets?: readonly CountPreset[];
  /** How many scrape targets count the requests (default 1); each request is counted by one, at random. */
  scrapeTargets?: number;
  /**
   * How each version's errors and latencies are decided (which version a request goes to is
   * drawn either way): `random` (the default), or `even` — a fixed sequence per Deployment,
   * its errors evenly spaced over its requests and its latencies low-discrepancy quantiles of
   * the log-normal, so two versions that behave alike show a judge the same shares of errors
   * and slow requests in every window, and a healthy release cannot be rolled back by chance.
   */
  draws?: 'random' | 'even';
}

/** Envoy's default histogram bounds (ms), which Istio's request duration uses too. */
const ENVOY_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];
/** ingress-nginx's default time buckets: client_golang's DefBuckets, in seconds. */
const NGINX_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Histogram {
  bounds: number[];
  counts: number[];
  sum: number;
  total: number;
}

export class WeightExporter {
  private readonly reader: WeightReader;
  private readonly random: Random;
  private readonly kinds: { share: number; headers: RequestHeaders }[];
  private readonly presets: Set<CountPreset>;
  /** Per scrape target: each metric's series by label text. */
  private readonly counters: Map<string, Map<string, number>>[];
  private readonly histograms: Map<string, Map<string, Histogram>>[];
  /** The target counting the request being sent. */
  private counting = 0;
  private routes: TrafficPath[][] | undefined;
  private deployments: { name: string; spec: number; available: number }[] = [];
  private carry = 0;
  private timer: NodeJS.Timeout | undefined;
  private servers: http.Server[] = [];
  /** Why the last read of the objects failed (traffic stops until one succeeds). */
  error: string | undefined;
  /** Requests sent so far, by Deployment name ('' for those that found no ready pod). */
  readonly sent = new Map<string, number>();

  constructor(private readonly options: WeightExporterOptions) {
    const get = typeof options.apiServer === 'string' ? apiGet(options.apiServer) : options.apiServer;
    this.reader = new WeightReader(get, options.namespace, options.routing);
    this.random = new Random(options.seed);
    this.kinds = options.requests ?? [{ share: 1, headers: {} }];
    this.presets = new Set(options.presets ?? COUNT_PRESETS);
    const targets = options.scrapeTargets ?? 1;
    this.counters = Array.from({ length: targets }, () => new Map());
    this.histograms = Array.from({ length: targets }, () => new Map());
  }

  /** Where each kind of request went at the last read of the objects (undefined while they cannot be read). */
  get paths(): readonly TrafficPath[][] | undefined {
    return this.routes;
  }

  /** Reads the objects again: where each kind of request goes, and each Deployment's pods. */
  async refresh(): Promise<TrafficPath[][]> {
    try {
      const routes: TrafficPath[][] = [];
      for (const k of this.kinds) routes.push(await this.reader.paths(k.headers));
      this.deployments = await this.reader.deploymentPods();
      this.routes = routes;
      this.error = undefined;
      return routes;
    } catch (err) {
      this.routes = undefined;
      this.error = err instanceof ExporterError ? err.message : `reading the objects failed: ${(err as Error).message}`;
      throw err;
    }
  }

  /** One tick: rate × tick requests along the routes last read (none while they cannot be read). */
  tick(): void {
    if (!this.routes) return;
    const tickMs = this.options.tickMs ?? 100;
    this.carry += (this.options.rate * tickMs) / 1000;
    const n = Math.floor(this.carry);
    this.carry -= n;
    for (let i = 0; i < n; i++) {
      const kind = pick(
        this.random.uniform(),
        this.kinds.map((k) => k.share),
      );
      const paths = this.routes[kind]!;
      const path =
        paths[
          pick(
            this.random.uniform(),
            paths.map((p) => p.share),
          )
        ];
      if (path) this.request(path);
    }
  }

  private request(p: TrafficPath): void {
    const b = (p.deployment && this.options.behaviour[p.deployment]) || this.options.behaviour.default;
    // The how-manieth request of this Deployment this is (0 first).
    const n = this.sent.get(p.deployment ?? '') ?? 0;
    const even = this.options.draws === 'even';
    const failed = !p.deployment || (even ? evenly.fails(n, b.errorRate) : this.random.uniform() < b.errorRate);
    const z = () => (even ? evenly.normal(n) : this.random.normal());
    const ms = p.deployment ? b.latencyMs.median * Math.exp(b.latencyMs.sigma * z()) : 0.1;
    const code = failed ? '503' : '200';
    this.counting = this.counters.length > 1 ? Math.floor(this.random.uniform() * this.counters.length) : 0;
    this.sent.set(p.deployment ?? '', n + 1);
    const ns = this.options.namespace;
    if (p.deployment && this.presets.has('istio')) {
      // Istio: only a destination sidecar reports with reporter="destination"; a backend without pods has none.
      const istio = { reporter: 'destination', destination_workload: p.deployment, destination_workload_namespace: ns };
      this.count('istio_requests_total', { ...istio, response_code: code });
      this.observe('istio_request_duration_milliseconds', istio, ENVOY_MS, ms);
    }
    if (p.envoyCluster && this.presets.has('envoy-gateway')) {
      const envoy = { envoy_cluster_name: p.envoyCluster };
      this.count('envoy_cluster_upstream_rq_xx', { ...envoy, envoy_response_code_class: code[0]! });
      this.observe('envoy_cluster_upstream_rq_time', envoy, ENVOY_MS, ms);
    }
    if (p.ingress && this.presets.has('ingress-nginx')) {
      const nginx = {
        namespace: ns,
        ingress: p.ingress.name,
        service: p.service,
        canary: p.ingress.canary ? p.service : '',
        method: 'GET',
        path: '/',
      };
      this.count('nginx_ingress_controller_requests', { ...nginx, status: code });
      this.observe('nginx_ingress_controller_request_duration_seconds', { ...nginx, status: code }, NGINX_S, ms / 1000);
    }
  }

  /** A target's own label: what tells its series apart from another target's (none with one target). */
  private withPod(labels: Record<string, string>): Record<string, string> {
    return this.counters.length > 1 ? { ...labels, pod: `pod-${this.counting}` } : labels;
  }

  private count(name: string, labels: Record<string, string>): void {
    const counters = this.counters[this.counting]!;
    const series = counters.get(name) ?? new Map<string, number>();
    counters.set(name, series);
    const key = labelText(this.withPod(labels));
    series.set(key, (series.get(key) ?? 0) + 1);
  }

  private observe(name: string, labels: Record<string, string>, bounds: number[], value: number): void {
    const histograms = this.histograms[this.counting]!;
    const series = histograms.get(name) ?? new Map<string, Histogram>();
    histograms.set(name, series);
    const key = labelText(this.withPod(labels));
    const h = series.get(key) ?? { bounds, counts: bounds.map(() => 0), sum: 0, total: 0 };
    series.set(key, h);
    bounds.forEach((b, i) => (h.counts[i]! += value <= b ? 1 : 0));
    h.sum += value;
    h.total++;
  }

  /** The Prometheus text exposition of what `target` counted, and (on the first) kube-state-metrics' Deployment gauges. */
  metrics(target = 0): string {
    const out: string[] = [];
    for (const [name, series] of this.counters[target]!) {
      out.push(`# TYPE ${name} counter`);
      for (const [labels, n] of series) out.push(`${name}{${labels}} ${n}`);
    }
    for (const [name, series] of this.histograms[target]!) {
      out.push(`# TYPE ${name} histogram`);
      for (const [labels, h] of series) {
        h.bounds.forEach((b, i) => out.push(`${name}_bucket{${labels},le="${b}"} ${h.counts[i]}`));
        out.push(
          `${name}_bucket{${labels},le="+Inf"} ${h.total}`,
          `${name}_sum{${labels}} ${h.sum}`,
          `${name}_count{${labels}} ${h.total}`,
        );
      }
    }
    const ns = this.options.namespace;
    if (!this.presets.has('kube-state-metrics') || target > 0) return `${out.join('\n')}\n`;
    out.push('# TYPE kube_deployment_status_replicas_available gauge');
    for (const d of this.deployments)
      out.push(
        `kube_deployment_status_replicas_available{${labelText({ namespace: ns, deployment: d.name })}} ${d.available}`,
      );
    out.push('# TYPE kube_deployment_spec_replicas gauge');
    for (const d of this.deployments)
      out.push(`kube_deployment_spec_replicas{${labelText({ namespace: ns, deployment: d.name })}} ${d.spec}`);
    return `${out.join('\n')}\n`;
  }

  /** Serves /metrics on 127.0.0.1 (one port per scrape target) and starts the ticker, re-reading the objects every `refreshMs`. */
  async start(refreshMs = 250): Promise<{ url: string; target: string; targets: string[] }> {
    await this.refresh().catch(() => undefined);
    const targets: string[] = [];
    for (let i = 0; i < this.counters.length; i++) {
      const server = http.createServer((req, res) => {
        if (req.url !== '/metrics') return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(this.metrics(i));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      this.servers.push(server);
      targets.push(`127.0.0.1:${(server.address() as AddressInfo).port}`);
    }
    const tickMs = this.options.tickMs ?? 100;
    let since = 0;
    let reading = false;
    this.timer = setInterval(() => {
      this.tick();
      since += tickMs;
      if (since < refreshMs || reading) return;
      since = 0;
      reading = true;
      void this.refresh()
        .catch(() => undefined)
        .finally(() => (reading = false));
    }, tickMs);
    return { url: `http://${targets[0]}`, target: targets[0]!, targets };
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

function pick(u: number, shares: number[]): number {
  const total = shares.reduce((s, x) => s + x, 0);
  let at = u * total;
  for (let i = 0; i < shares.length; i++) if ((at -= shares[i]!) < 0) return i;
  return shares.length - 1;
}

function labelText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}
