// The proxies under test, each started as its own process by run.mjs:
//   node targets.mjs kanari|kanari-bare|fastify PORT STABLE_PORT CANARY_PORT STATE_DIR WORKERS [DIST]
// DIST is the compiled kanari to run (this tree's or a baseline ref's, built by build.mjs).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [kind, port, stablePort, canaryPort, stateDir, workers = '1', dist] = process.argv.slice(2);
const stable = `http://127.0.0.1:${stablePort}`;
const canary = `http://127.0.0.1:${canaryPort}`;

if (kind === 'fastify') {
  const { default: Fastify } = await import('fastify');
  const { default: proxy } = await import('@fastify/http-proxy');
  const app = Fastify({ logger: false });
  await app.register(proxy, { upstream: stable });
  await app.listen({ port: Number(port), host: '127.0.0.1' });
} else {
  const { loopbackRouter } = await import(pathToFileURL(join(dist, 'config/schemas/router.js')).href);
  const { startRouter } = await import(pathToFileURL(join(dist, 'router/run.js')).href);
  const full = kind === 'kanari';
  // Only keys every build since the baseline understands, so old and new run the same config.
  const doc = loopbackRouter('bench', 'bench-token-not-secret', {
    listen: `127.0.0.1:${port}`,
    workers: Number(workers),
    state: join(stateDir, `${kind}-${port}.json`),
    // Bare: a header nobody sends, so every request takes the random bucket and no hash.
    sticky: { header: full ? 'x-user-id' : 'x-unused' },
    // A pooled connection that stalls (finding 2 of issue 12) shows as 504s within a short run, not as wrk timeouts.
    timeouts: { upstreamHeaders: '1s' },
    table: { pools: { stable: [stable], canary: [canary] }, weights: { canary: 5 } },
  });
  await startRouter(doc, { recordStats: full });
}
console.log('ready');
process.on('SIGINT', () => process.exit(0));
