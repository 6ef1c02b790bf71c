// The proxies under test, each started as its own process by run.mjs:
//   node targets.mjs kanari|kanari-bare|fastify PORT STABLE_PORT CANARY_PORT STATE_DIR [WORKERS]
import { join } from 'node:path';

const [kind, port, stablePort, canaryPort, stateDir, workers = '1'] = process.argv.slice(2);
const stable = `http://127.0.0.1:${stablePort}`;
const canary = `http://127.0.0.1:${canaryPort}`;

if (kind === 'fastify') {
  const { default: Fastify } = await import('fastify');
  const { default: proxy } = await import('@fastify/http-proxy');
  const app = Fastify({ logger: false });
  await app.register(proxy, { upstream: stable });
  await app.listen({ port: Number(port), host: '127.0.0.1' });
} else {
  const { loopbackRouter } = await import('../../dist/config/schemas/router.js');
  const { startRouter } = await import('../../dist/router/run.js');
  const full = kind === 'kanari';
  const doc = loopbackRouter('bench', 'bench-token-not-secret', {
    listen: `127.0.0.1:${port}`,
    workers: Number(workers),
    state: join(stateDir, `${kind}.json`),
    // Bare: a header nobody sends, so every request takes the random bucket and no hash.
    sticky: { header: full ? 'x-user-id' : 'x-unused' },
    table: { pools: { stable: [stable], canary: [canary] }, weights: { canary: 5 } },
  });
  await startRouter(doc, { recordStats: full });
}
console.log('ready');
process.on('SIGINT', () => process.exit(0));
