// N concurrent rollouts (default 200) in one `kanari up`, with the sequential judge in the
// background, analysed every second while users send requests through every service.
// Prints the CPU of the controller and of the router processes against one core, how
// many router processes serve, how late the rounds started against the 1 s interval, and
// how many measurements each analysis took against the schedule.
//   npm run bench:controller [-- --rollouts 200 --seconds 60 --rate 2000]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { children, demoApp, kanariUp, listenPorts } from '../kanari-up.mjs';

const { values } = parseArgs({
  options: {
    rollouts: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '60' },
    rate: { type: 'string', default: '2000' },
  },
});
const N = Number(values.rollouts);
const SECONDS = Number(values.seconds);
const RATE = Number(values.rate);
const dir = mkdtempSync(join(tmpdir(), 'kanari-bench-controller-'));
const cpuSeconds = (pid) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 1/100 s
  } catch {
    return 0; // gone since it was listed
  }
};
/** Seconds the process was runnable but waited for a core (a machine busier than its cores shows here). */
const waitedSeconds = (pid) => {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
  } catch {
    return 0;
  }
};
/** Router processes: every process but the controller whose command line names this run's state. */
const routerPids = (controller) =>
  readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && Number(p) !== controller)
    .filter((p) => {
      try {
        return (
          readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(join(dir, 'state')) &&
          readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('router')
        );
      } catch {
        return false;
      }
    })
    .map(Number);
const sum = (pids) => pids.reduce((total, pid) => total + cpuSeconds(pid), 0);

try {
  const [v1, v2] = [await demoApp('v1'), await demoApp('v2')];
  const up = await kanariUp(join(dir, 'state'));
  const { api, call } = up;
  const ports = await listenPorts(N);
  const docs = ports.map(
    (port, i) => `apiVersion: kanari.dev/v1alpha1
kind: Rollout
metadata: { name: svc-${i} }
spec:
  listen: 127.0.0.1:${port}
  stable: { version: v1, upstreams: [http://127.0.0.1:${v1}] }
  canary: { upstreams: [http://127.0.0.1:${v2}] }
  strategy:
    canary:
      analysis: { templates: [sequential] }
      steps: [{ setWeight: 50 }, { pause: {} }]
`,
  );
  let t = performance.now();
  // A file holds at most 100 documents (src/config/bounds.ts), so they go in files of 100.
  for (let i = 0; i < N; i += 100)
    await call('POST', '/api/v1/apply', {
      file: join(dir, `rollouts-${i}.yaml`),
      text: docs.slice(i, i + 100).join('---\n'),
    });
  for (;;) {
    const answering = await Promise.all(
      ports.map((p) =>
        fetch(`http://127.0.0.1:${p}/`).then(
          (r) => r.ok,
          () => false,
        ),
      ),
    );
    if (answering.every(Boolean)) break;
    await sleep(500);
  }
  console.log(`${N} rollouts applied and ${N} routers serving after ${((performance.now() - t) / 1000).toFixed(1)} s`);
  t = performance.now();
  for (let i = 0; i < N; i++) await call('POST', `/api/v1/rollouts/svc-${i}/deploy`, { version: 'v2' });
  for (;;) {
    const { rollouts } = await call('GET', '/api/v1/rollouts');
    if (rollouts.every((r) => r.phase === 'Paused' && r.weights.canary === 50)) break;
    await sleep(500);
  }
  console.log(
    `${N} canaries at 50% after ${((performance.now() - t) / 1000).toFixed(1)} s; measuring for ${SECONDS} s at ${RATE} requests/s across all routers`,
  );

  // Users: a steady total rate spread over every router, on kept-alive connections.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  let sent = 0;
  let failed = 0;
  // Each tick sends what the rate owes since the start: a busy machine fires timers late,
  // and a fixed count per tick would then send less than the rate.
  const loadStart = performance.now();
  const loadTimer = setInterval(() => {
    const owed = Math.floor(((performance.now() - loadStart) / 1000) * RATE) - sent;
    for (let k = 0; k < Math.min(owed, RATE / 10); k++) {
      const port = ports[sent++ % N];
      http
        .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          if (res.statusCode >= 500) failed++;
          res.resume();
        })
        .on('error', () => failed++);
    }
  }, 10);

  const measured = async () =>
    (await call('GET', '/api/v1/rollouts')).rollouts.map(
      (r) => r.analyses.find((a) => a.scope === 'background')?.measurements ?? 0,
    );
  const lagMetrics = async () => {
    const text = await (await fetch(`${api}/metrics`)).text();
    const buckets = [...text.matchAll(/^kanari_controller_round_lag_seconds_bucket\{le="([^"]+)"\} (\d+)/gm)].map(
      (m) => [m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])],
    );
    return { buckets, max: Number(/^kanari_controller_round_lag_max_seconds (\S+)/m.exec(text)[1]) };
  };
  await sleep(5000); // let the load settle in
  const routers = routerPids(up.child.pid);
  const before = {
    cpu: cpuSeconds(up.child.pid),
    routerCpu: sum(routers),
    waited: waitedSeconds(up.child.pid),
    benchCpu: process.cpuUsage(),
    wall: performance.now(),
    measurements: await measured(),
    lag: await lagMetrics(),
  };
  await sleep(SECONDS * 1000);
  const after = {
    cpu: cpuSeconds(up.child.pid),
    routerCpu: sum(routers),
    waited: waitedSeconds(up.child.pid),
    benchCpu: process.cpuUsage(before.benchCpu),
    wall: performance.now(),
    measurements: await measured(),
    lag: await lagMetrics(),
  };
  clearInterval(loadTimer);

  const wall = (after.wall - before.wall) / 1000;
  const cores = (after.cpu - before.cpu) / wall;
  const rounds = after.lag.buckets.map(([le, n], i) => [le, n - before.lag.buckets[i][1]]);
  const total = rounds.at(-1)[1];
  const quantile = (q) => rounds.find(([, n]) => n >= q * total)[0];
  const perRollout = after.measurements.map((m, i) => m - before.measurements[i]);
  const slowest = Math.min(...perRollout);
  console.log(
    `controller CPU: ${cores.toFixed(2)} cores, ${(cores * 100).toFixed(0)}% of one core (${((cores / N) * 1000).toFixed(2)} ms of CPU per rollout-second)`,
  );
  const routerCores = (after.routerCpu - before.routerCpu) / wall;
  const benchCores = (after.benchCpu.user + after.benchCpu.system) / 1e6 / wall;
  console.log(
    `router CPU: ${routerCores.toFixed(2)} cores in ${routers.length} router process(es); controller + routers ${(cores + routerCores).toFixed(2)} of the machine's 2 cores; the load generator itself ${benchCores.toFixed(2)}`,
  );
  console.log(
    `the controller waited for a core ${((after.waited - before.waited) / wall).toFixed(2)} s per second (runnable, not running); machine load average ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]} on 2 cores`,
  );
  console.log(
    `round lateness over ${total} rounds: p50 ≤ ${quantile(0.5)} s, p99 ≤ ${quantile(0.99)} s, worst since start ${after.lag.max.toFixed(3)} s — ${(quantile(0.99) / 1).toFixed(3)}× the 1 s interval at p99`,
  );
  console.log(
    `measurements per analysis in ${wall.toFixed(0)} s: slowest ${slowest}, median ${perRollout.sort((a, b) => a - b)[Math.floor(N / 2)]} — ${(slowest / wall).toFixed(2)}× the schedule for the slowest`,
  );
  console.log(`requests: ${sent} sent, ${failed} failed`);
  await call('POST', '/api/v1/shutdown', { all: true }).catch(() => {});
  await new Promise((resolve) => (up.child.exitCode === null ? up.child.once('exit', resolve) : resolve()));
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
