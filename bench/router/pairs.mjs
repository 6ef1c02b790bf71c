// Old build against new in pairs: the same short wrk run on each, one after the other, the
// order alternating, many times; then the median of each. On a shared 2-core machine one run
// can be 30% off its neighbour, so a best-of-N is luck; a median of paired runs, and the CPU
// the router spent per request (from /proc, which other load on the machine barely moves),
// are what a 10% bound can be checked against.
import { cpuMs, processTree, stop, waitForPort } from './procs.mjs';
import { warmUp, wrk } from './wrk.mjs';

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2;
};

/** `a` and `b` are targets ({ name, make }); returns the medians of req/s, p99 and CPU µs per request for each. */
export async function pairs(a, b, { count, path, load }) {
  const runs = { [a.name]: [], [b.name]: [] };
  for (let i = 0; i < count; i++) {
    for (const target of i % 2 === 0 ? [a, b] : [b, a]) {
      const { port, child } = await target.make();
      await waitForPort(port);
      warmUp(port, path);
      const pids = processTree(child.pid);
      const before = cpuMs(pids);
      const r = wrk(port, path, load);
      const spent = cpuMs(pids) - before;
      await stop(child);
      runs[target.name].push({ rps: r.rps, p99: r.p99, cpuUs: (spent * 1000) / (r.rps * load.seconds) });
    }
    console.log(
      `  pair ${i + 1}: ${[a, b].map((t) => `${t.name} ${runs[t.name].at(-1).rps.toFixed(0)} req/s, ${runs[t.name].at(-1).cpuUs.toFixed(1)} µs CPU/request`).join('; ')}`,
    );
  }
  return Object.fromEntries(
    Object.entries(runs).map(([name, rs]) => [
      name,
      { rps: median(rs.map((r) => r.rps)), p99: median(rs.map((r) => r.p99)), cpuUs: median(rs.map((r) => r.cpuUs)) },
    ]),
  );
}
