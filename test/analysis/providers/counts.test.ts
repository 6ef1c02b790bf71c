/**
 * Every `CountSource` runs the conformance suite: the builtin source over a recorder of
 * the router's stats, and the Prometheus source over a small Prometheus API that
 * "scrapes" the router's own /metrics text at each observation and answers range
 * selectors with those raw samples (counts-agree.test.ts does this with the real one).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { prometheusCounts } from '../../../src/config/schemas/analysis.js';
import { BuiltinCounts, StatsRecorder } from '../../../src/analysis/providers/builtin.js';
import { PrometheusCountSource } from '../../../src/analysis/providers/prometheus-counts.js';
import { RouterStats } from '../../../src/router/stats.js';
import type { StatsSnapshot } from '../../../src/shared/stats-snapshot.js';
import { renderPrometheus } from '../../../src/router/metrics.js';
import { countSourceConformance, type CountHarness } from './counts.conformance.js';

const available = { stable: true, canary: true, baseline: false };

/** A router's counters that can restart; each restart is a new `startedAt`, as a new process has. */
class Counters {
  stats = new RouterStats('svc');
  private restarts = 0;

  serve(version: 'stable' | 'canary', status: number, seconds: number, n: number): void {
    for (let i = 0; i < n; i++) {
      this.stats.started(version);
      this.stats.finished(version, status, seconds);
    }
  }

  snapshot(time: number): StatsSnapshot {
    return { ...this.stats.snapshot(1, available), time, startedAt: this.stats.startedAt + this.restarts };
  }

  restart(): void {
    this.stats = new RouterStats('svc');
    this.restarts++;
  }
}

countSourceConformance('builtin (the router’s /stats deltas)', async () => {
  const counters = new Counters();
  const recorder = new StatsRecorder();
  return {
    source: new BuiltinCounts(recorder),
    serve: (...a) => counters.serve(...a),
    observe: async (time) => void recorder.record(counters.snapshot(time)),
    restart: () => counters.restart(),
    close: async () => {},
  } satisfies CountHarness;
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  time: number;
  value: number;
}

/** A Prometheus API over scraped samples: answers `name{a="x",b=~"re"}[Nms]` at `time` with raw samples. */
function answer(samples: Sample[], query: string, at: number) {
  const [, name, matchers, range] = /^(\w+)\{(.*)\}\[(\d+)ms\]$/.exec(query)!;
  const tests = [...matchers!.matchAll(/(\w+)(=~|=)"((?:[^"\\]|\\.)*)"/g)].map(([, label, op, raw]) => {
    const value = raw!.replace(/\\(.)/g, '$1');
    const re = new RegExp(`^(?:${value})$`);
    return (labels: Record<string, string>) => (op === '=' ? labels[label!] === value : re.test(labels[label!] ?? ''));
  });
  const series = new Map<string, { metric: Record<string, string>; values: [number, string][] }>();
  for (const s of samples) {
    if (s.name !== name || s.time > at || s.time <= at - Number(range) || !tests.every((t) => t(s.labels))) continue;
    const key = JSON.stringify(s.labels);
    if (!series.has(key)) series.set(key, { metric: { __name__: name, ...s.labels }, values: [] });
    series.get(key)!.values.push([s.time / 1000, String(s.value)]);
  }
  return { status: 'success', data: { resultType: 'matrix', result: [...series.values()] } };
}

countSourceConformance('prometheus (raw samples of the router’s /metrics)', async () => {
  const counters = new Counters();
  const samples: Sample[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const params = new URLSearchParams(body);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer(samples, params.get('query')!, Number(params.get('time')) * 1000)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    source: new PrometheusCountSource(prometheusCounts.parse({ address }), 'svc'),
    serve: (...a) => counters.serve(...a),
    observe: async (time) => {
      const text = renderPrometheus(counters.snapshot(time), { weights: { canary: 0, baseline: 0 }, available });
      for (const line of text.split('\n')) {
        const m = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
        if (!m) continue;
        const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k, v]));
        samples.push({ name: m[1]!, labels, time, value: Number(m[3]) });
      }
    },
    restart: () => counters.restart(),
    close: () => new Promise<void>((r) => server.close(() => r())),
  } satisfies CountHarness;
});
