/**
 * The demo service: a small HTTP app that says which version it is, with a chosen error
 * rate and latency, so the demo and the tests have a real process to route to, kill and
 * judge. Run as `node dist/demo/app.js --name v2 --port 9002 --error-rate 0.05` (the port
 * defaults to $PORT, which is how kanari's process target tells it).
 *
 * Which requests fail and how long each takes are spread evenly over the app's requests,
 * not drawn at random (`even`, src/analysis/stats/random.ts): two versions with the same
 * settings then differ in nothing, and the good demo can never be rolled back by the
 * luck of the draws — at the demo's α = 0.01 that was about one run in two thousand.
 * Which user meets which request is still up to the traffic.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { even } from '../analysis/stats/random.js';

export interface AppOptions {
  name: string;
  port: number;
  host?: string;
  /** The share of requests that get a 500, evenly spaced. */
  errorRate?: number;
  /** Median latency in ms; latencies are lognormal with σ = 0.5 around it, their quantiles evenly spread. */
  latencyMs?: number;
}

export function createApp(opts: AppOptions): http.Server {
  const errorRate = opts.errorRate ?? 0;
  const latencyMs = opts.latencyMs ?? 0;
  let served = 0;
  return http.createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    const n = served++;
    const delay = latencyMs > 0 ? latencyMs * Math.exp(0.5 * even.normal(n)) : 0;
    const failed = even.fails(n, errorRate);
    const reply = () => {
      const body = JSON.stringify({ version: opts.name, path: req.url, ok: !failed }) + '\n';
      res.writeHead(failed ? 500 : 200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'x-app-version': opts.name,
      });
      res.end(body);
    };
    req.resume();
    req.on('end', () => (delay > 0 ? setTimeout(reply, delay) : reply()));
  });
}

export function listenApp(opts: AppOptions): Promise<{ server: http.Server; port: number }> {
  const server = createApp(opts);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () =>
      resolve({ server, port: (server.address() as AddressInfo).port }),
    );
  });
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*[\\/]/, ''));
if (isMain) {
  const { values } = parseArgs({
    options: {
      name: { type: 'string', default: 'v1' },
      port: { type: 'string', default: process.env.PORT ?? '0' },
      'error-rate': { type: 'string', default: '0' },
      'latency-ms': { type: 'string', default: '0' },
    },
  });
  const { server, port } = await listenApp({
    name: values.name!,
    port: Number(values.port),
    errorRate: Number(values['error-rate']),
    latencyMs: Number(values['latency-ms']),
  });
  // The parent reads this line to learn the port.
  console.log(`listening ${port}`);
  // Stopped as a well-behaved service is: finish what is in flight, then exit.
  process.once('SIGTERM', () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5000).unref();
  });
}
