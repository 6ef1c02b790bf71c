// bench/router: kanari's router against nginx split_clients, @fastify/http-proxy, no proxy at
// all, and kanari as built from an older commit, under the same wrk load in the same run, with
// tiny, 20 KiB, 64 KiB and 1 MiB responses and a slow-reader row for memory per connection.
// Prints the rows, the ratios the router issues set as targets, and writes .bench/router-<N>w.json.
//
//   npm run bench:router [-- --seconds 8 --rounds 2 --connections 32 --workers 1 --baseline 33698ba
//                            --pairs 10 --slow-clients 200 --slow-rate 64]
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureDebian } from '../../scripts/ensure-debian.mjs';
import { buildRef, buildThisTree, DEFAULT_BASELINE, resolveRef } from './build.mjs';
import { freePort, nginx, start, stop, stopAllOnExit, waitForPort } from './procs.mjs';
import { pairs } from './pairs.mjs';
import { keepBest, printResults } from './report.mjs';
import { slowReaders } from './slow.mjs';
import { describeSocketErrors, warmUp, wrk } from './wrk.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
    workers: { type: 'string', default: '1' },
    baseline: { type: 'string', default: DEFAULT_BASELINE },
    'slow-clients': { type: 'string', default: '200' },
    'slow-rate': { type: 'string', default: '64' },
    pairs: { type: 'string', default: '10' },
  },
});
const load = { seconds: Number(values.seconds), connections: Number(values.connections) };
const rounds = Number(values.rounds);
/** Worker processes for both nginx and kanari (the upstream nginx always has one). */
const workers = Number(values.workers);
const slow = { clients: Number(values['slow-clients']), rate: Number(values['slow-rate']) * 1024 };

/** Every target answers TINY; the `sizes` targets also SIZES, of which 20 KiB is the one that showed finding 2 of issue 12. */
const TINY = { name: '7 B', path: '/' };
const SIZES = [
  { name: '20 KiB', path: '/20k', bytes: 20 * 1024 },
  { name: '64 KiB', path: '/64k', bytes: 64 * 1024 },
  { name: '1 MiB', path: '/1m', bytes: 1024 * 1024 },
];
const SLOW = SIZES[2];

let baseline;
if (values.baseline !== 'none') {
  const hash = resolveRef(repo, values.baseline);
  if (hash instanceof Error) {
    console.error(hash.message);
    process.exit(2);
  }
  baseline = { ref: values.baseline, hash, target: `kanari @${hash}` };
}

ensureDebian([
  ['nginx', 'nginx-light'],
  ['wrk', 'wrk'],
]);
const dir = mkdtempSync(join(tmpdir(), 'kanari-bench-'));
stopAllOnExit(() => rmSync(dir, { recursive: true, force: true }));
console.error(`building this tree${baseline ? ` and ${baseline.ref}` : ''} with the repo's tsc …`);
const thisDist = buildThisTree(repo, dir);
const refDist = baseline && buildRef(repo, baseline.hash, dir);

// Upstreams: one nginx with two servers answering "stable\n"/"canary\n" on / and static files of
// each size elsewhere, so the upstream is never the bottleneck and every proxy fetches the same bytes.
const files = join(dir, 'files');
// nginx workers run as an unprivileged user when the bench runs as root: they must reach the files and their temp dirs.
chmodSync(dir, 0o711);
mkdirSync(files, { mode: 0o755 });
for (const s of SIZES) writeFileSync(join(files, s.path.slice(1)), Buffer.alloc(s.bytes, 'k'));
const [stablePort, canaryPort] = [await freePort(), await freePort()];
const upstreamServer = (port, text) =>
  `  server { listen 127.0.0.1:${port}; root ${files}; sendfile on; location = / { return 200 "${text}\\n"; } }`;
nginx(dir, 'upstream', `${upstreamServer(stablePort, 'stable')}\n${upstreamServer(canaryPort, 'canary')}`);
await waitForPort(stablePort);
await waitForPort(canaryPort);

const kanari = (kind, dist) => async () => {
  const port = await freePort();
  return {
    port,
    child: start(process.execPath, [join(here, 'targets.mjs'), kind, port, stablePort, canaryPort, dir, workers, dist]),
  };
};
/** `sizes`: loaded with every response size; `slow`: measured with slow readers. */
const targets = [
  { name: 'direct', sizes: true, make: async () => ({ port: stablePort }) },
  {
    name: 'nginx split_clients',
    sizes: true,
    slow: true,
    make: async () => {
      const port = await freePort();
      const child = nginx(
        dir,
        `proxy-${port}`,
        `  upstream stable { server 127.0.0.1:${stablePort}; keepalive 64; }
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
  }`,
        workers,
      );
      return { port, child };
    },
  },
  {
    name: '@fastify/http-proxy',
    make: async () => {
      const port = await freePort();
      return {
        port,
        child: start(process.execPath, [join(here, 'targets.mjs'), 'fastify', port, stablePort, canaryPort, dir]),
      };
    },
  },
  { name: 'kanari (this tree)', sizes: true, slow: true, make: kanari('kanari', thisDist) },
  ...(baseline ? [{ name: baseline.target, sizes: true, slow: true, make: kanari('kanari', refDist) }] : []),
  { name: 'kanari (bare)', make: kanari('kanari-bare', thisDist) },
];

const baselineNote = baseline
  ? `; baseline ${baseline.ref} = ${baseline.hash}${baseline.ref === DEFAULT_BASELINE ? ' (the commit before the issue-12 hardening)' : ''}`
  : '; no baseline';
console.log(
  `bench/router: wrk -t1 -c${load.connections} -d${load.seconds}s, ${rounds} round(s) per target, best round kept; ${workers} worker(s) for nginx and kanari; ${cpus().length} cores${baselineNote}`,
);

/** results[response][target]: the best round's req/s, MiB/s and p99, with errors summed over all rounds. */
const results = Object.fromEntries([TINY, ...SIZES].map((w) => [w.name, {}]));
for (let round = 0; round < rounds; round++) {
  // Every other round in reverse, so neither of two neighbours (this tree, the baseline) always goes first.
  const order = round % 2 === 0 ? targets : [...targets].reverse();
  for (const target of order) {
    const { port, child } = await target.make();
    await waitForPort(port);
    for (const w of target.sizes ? [TINY, ...SIZES] : [TINY]) {
      warmUp(port, w.path);
      const r = wrk(port, w.path, load);
      results[w.name][target.name] = keepBest(results[w.name][target.name], r);
      const socketErrors = describeSocketErrors(r.socketErrors);
      const errors = `${r.non2xx ? `  non-2xx ${r.non2xx}` : ''}${socketErrors ? `  socket errors ${socketErrors}` : ''}`;
      console.log(
        `  round ${round + 1} ${target.name.padEnd(26)} ${w.name.padStart(6)} ${r.rps.toFixed(0).padStart(7)} req/s ${r.mibps.toFixed(1).padStart(7)} MiB/s  p99 ${r.p99.toFixed(2).padStart(7)} ms${errors}`,
      );
    }
    if (child) await stop(child);
  }
}

// This tree against the baseline in pairs of short runs, compared by their medians.
let paired;
if (baseline && Number(values.pairs) > 0) {
  console.log(`\n${values.pairs} pairs of ${TINY.name} runs, this tree and ${baseline.target} one after the other:`);
  const byName = Object.fromEntries(targets.map((t) => [t.name, t]));
  paired = await pairs(byName['kanari (this tree)'], byName[baseline.target], {
    count: Number(values.pairs),
    path: TINY.path,
    load,
  });
}

// Slow readers on a freshly started proxy each, after the load rounds, so the memory before is a fresh process's.
const slowRows = {};
if (slow.clients > 0) {
  for (const target of targets.filter((t) => t.slow)) {
    const { port, child } = await target.make();
    await waitForPort(port);
    warmUp(port, TINY.path);
    slowRows[target.name] = await slowReaders(child.pid, port, { ...slow, path: SLOW.path, bytes: SLOW.bytes });
    const r = slowRows[target.name];
    console.log(
      `  slow readers ${target.name.padEnd(26)} ${(r.perConnection / 1024).toFixed(1).padStart(7)} KiB per connection, ${r.complete}/${r.clients} complete in ${r.seconds.toFixed(1)} s`,
    );
    await stop(child);
  }
}

const ratios = printResults({ results, slowRows, slow, slowSize: SLOW.name, baseline, tiny: TINY.name, paired });
mkdirSync('.bench', { recursive: true });
writeFileSync(
  `.bench/router-${workers}w.json`,
  JSON.stringify(
    { ...load, rounds, workers, baseline: baseline ?? null, results, slowReaders: slowRows, ratios },
    null,
    2,
  ),
);
process.exit(0);
