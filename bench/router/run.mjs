// bench/router: kanari's router against nginx split_clients and @fastify/http-proxy, and
// against no proxy at all, under the same wrk load in the same run. Prints req/s and p99
// for each, the ratios the router issue sets as targets, and writes .bench/router.json.
//
//   npm run bench:router [-- --seconds 8 --rounds 2 --connections 32]
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureDebian } from '../../scripts/ensure-debian.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '8' }, rounds: { type: 'string', default: '2' }, connections: { type: 'string', default: '32' }, workers: { type: 'string', default: '1' } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
/** Worker processes for both nginx and kanari (the upstream nginx always has one). */
const workers = Number(values.workers);

ensureDebian([['nginx', 'nginx-light'], ['wrk', 'wrk']]);
const dir = mkdtempSync(join(tmpdir(), 'kanari-bench-'));
const children = [];
// SIGTERM, not SIGKILL: a killed nginx master leaves its workers running, holding the ports.
process.on('exit', () => {
  for (const c of children) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function waitForPort(port) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

function nginx(name, body, processes = 1) {
  const prefix = join(dir, name);
  mkdirSync(join(prefix, 'tmp'), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes ${processes};
daemon off;
pid ${prefix}/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
${body}
}
`,
  );
  const child = spawn('nginx', ['-p', prefix, '-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  return child;
}

function start(command, args) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  return child;
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

function wrk(port) {
  const out = spawnSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', join(here, 'split.lua'), `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`wrk failed: ${out.stderr}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out.stdout)?.[1]);
  const p99 = toMs(/^\s+99%\s+([\d.]+\w+)/m.exec(out.stdout)?.[1]);
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out.stdout)?.[1] ?? '0';
  const socketErrors = /Socket errors: (.*)/.exec(out.stdout)?.[1];
  return { rps, p99, errors: Number(errors), socketErrors };
}

function toMs(text) {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text ?? '');
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]];
}

// Upstreams: one nginx with two fixed-response servers, so the upstream is never the bottleneck.
const [stablePort, canaryPort] = [await freePort(), await freePort()];
nginx('upstream', `  server { listen 127.0.0.1:${stablePort}; location / { return 200 "stable\\n"; } }
  server { listen 127.0.0.1:${canaryPort}; location / { return 200 "canary\\n"; } }`);
await waitForPort(stablePort);
await waitForPort(canaryPort);

const targets = {
  direct: async () => ({ port: stablePort, child: undefined }),
  'nginx split_clients': async () => {
    const port = await freePort();
    const child = nginx(`proxy-${port}`, `  upstream stable { server 127.0.0.1:${stablePort}; keepalive 64; }
  upstream canary { server 127.0.0.1:${canaryPort}; keepalive 64; }
  split_clients "\${http_x_user_id}" $pool { 5% canary; * stable; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://$pool;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }`, workers);
    return { port, child };
  },
  '@fastify/http-proxy': async () => {
    const port = await freePort();
    return { port, child: start(process.execPath, [join(here, 'targets.mjs'), 'fastify', port, stablePort, canaryPort, dir]) };
  },
  'kanari (sticky + metrics)': async () => {
    const port = await freePort();
    return { port, child: start(process.execPath, [join(here, 'targets.mjs'), 'kanari', port, stablePort, canaryPort, dir, workers]) };
  },
  'kanari (bare)': async () => {
    const port = await freePort();
    return { port, child: start(process.execPath, [join(here, 'targets.mjs'), 'kanari-bare', port, stablePort, canaryPort, dir, workers]) };
  },
};

console.log(`bench/router: wrk -t1 -c${connections} -d${seconds}s, ${rounds} round(s) per target, best round kept; ${workers} worker(s) for nginx and kanari; ${(await import('node:os')).cpus().length} cores`);
const results = {};
for (let round = 0; round < rounds; round++) {
  for (const [name, make] of Object.entries(targets)) {
    const { port, child } = await make();
    await waitForPort(port);
    spawnSync('wrk', ['-t1', '-c8', '-d1s', `http://127.0.0.1:${port}/`]); // warm up (JIT, pools)
    const r = wrk(port);
    if (child) await stop(child);
    if (!results[name] || r.rps > results[name].rps) results[name] = r;
    console.log(`  round ${round + 1} ${name.padEnd(26)} ${r.rps.toFixed(0).padStart(7)} req/s  p99 ${r.p99.toFixed(2).padStart(6)} ms${r.errors ? `  non-2xx ${r.errors}` : ''}${r.socketErrors ? `  socket errors ${r.socketErrors}` : ''}`);
  }
}

console.log('\n| target | req/s | p99 ms |\n|---|---:|---:|');
for (const [name, r] of Object.entries(results)) console.log(`| ${name} | ${r.rps.toFixed(0)} | ${r.p99.toFixed(2)} |`);
const k = results['kanari (sticky + metrics)'];
const ratios = [
  ['kanari / nginx req/s', k.rps / results['nginx split_clients'].rps, '≥ 0.5', (x) => x >= 0.5],
  ['kanari / @fastify/http-proxy req/s', k.rps / results['@fastify/http-proxy'].rps, '≥ 1.5', (x) => x >= 1.5],
  ['kanari p99 / nginx p99', k.p99 / results['nginx split_clients'].p99, '≤ 2', (x) => x <= 2],
  ['sticky+metrics cost (1 − full/bare req/s)', 1 - k.rps / results['kanari (bare)'].rps, '≤ 0.10', (x) => x <= 0.1],
];
console.log('\n| ratio | measured | target | met |\n|---|---:|---:|---|');
for (const [name, value, target, ok] of ratios) console.log(`| ${name} | ${value.toFixed(2)} | ${target} | ${ok(value) ? 'yes' : 'NO'} |`);
mkdirSync('.bench', { recursive: true });
writeFileSync(`.bench/router-${workers}w.json`, JSON.stringify({ connections, seconds, rounds, workers, results, ratios: Object.fromEntries(ratios.map(([n, v]) => [n, v])) }, null, 2));
process.exit(0);
