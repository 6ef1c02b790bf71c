// Prints bench/router's tables: every row, the ratios the router issues set as targets, this
// tree against the baseline build, and the slow readers' memory per connection.
import { describeSocketErrors } from './wrk.mjs';

const THIS = 'kanari (this tree)';
/** Issue 12: the hardened router may cost at most 10 % against the build before it. */
const WITHIN = 0.1;

/** Keeps the round with the most req/s, and counts the errors of every round. */
export function keepBest(best, r) {
  if (!best) return r;
  const socketErrors = Object.fromEntries(
    Object.entries(r.socketErrors).map(([kind, n]) => [kind, n + best.socketErrors[kind]]),
  );
  return { ...(best.rps > r.rps ? best : r), non2xx: best.non2xx + r.non2xx, socketErrors };
}

const kib = (bytes) => (bytes / 1024).toFixed(1);
const mib = (bytes) => (bytes / 1024 / 1024).toFixed(1);
const yes = (ok) => (ok ? 'yes' : 'NO');

export function printResults({ results, slowRows, slow, slowSize, baseline, tiny, paired }) {
  console.log(
    '\n| response | target | req/s | MiB/s | p99 ms | non-2xx (all rounds) | socket errors (all rounds) |\n|---|---|---:|---:|---:|---:|---|',
  );
  for (const [response, rows] of Object.entries(results)) {
    for (const [name, r] of Object.entries(rows)) {
      console.log(
        `| ${response} | ${name} | ${r.rps.toFixed(0)} | ${r.mibps.toFixed(1)} | ${r.p99.toFixed(2)} | ${r.non2xx} | ${describeSocketErrors(r.socketErrors) || '0'} |`,
      );
    }
  }

  const small = results[tiny];
  const k = small[THIS];
  const ratios = {};
  const targets = [
    ['kanari / nginx req/s', k.rps / small['nginx split_clients'].rps, '≥ 0.5', (x) => x >= 0.5],
    ['kanari / @fastify/http-proxy req/s', k.rps / small['@fastify/http-proxy'].rps, '≥ 1.5', (x) => x >= 1.5],
    ['kanari p99 / nginx p99', k.p99 / small['nginx split_clients'].p99, '≤ 2', (x) => x <= 2],
    ['sticky+metrics cost (1 − full/bare req/s)', 1 - k.rps / small['kanari (bare)'].rps, '≤ 0.10', (x) => x <= 0.1],
  ];
  console.log(`\n| ratio (${tiny} responses) | measured | target | met |\n|---|---:|---:|---|`);
  for (const [name, value, target, ok] of targets) {
    console.log(`| ${name} | ${value.toFixed(2)} | ${target} | ${yes(ok(value))} |`);
    ratios[name] = value;
  }

  if (baseline) {
    console.log(
      `\n| this tree / ${baseline.target} | req/s | ≥ ${1 - WITHIN} | p99 | ≤ ${1 + WITHIN} |\n|---|---:|---|---:|---|`,
    );
    for (const [response, rows] of Object.entries(results)) {
      const [now, then] = [rows[THIS], rows[baseline.target]];
      const rps = now.rps / then.rps;
      const p99 = now.p99 / then.p99;
      console.log(
        `| ${response} | ${rps.toFixed(2)} | ${yes(rps >= 1 - WITHIN)} | ${p99.toFixed(2)} | ${yes(p99 <= 1 + WITHIN)} |`,
      );
      ratios[`this tree / baseline req/s, ${response}`] = rps;
      ratios[`this tree / baseline p99, ${response}`] = p99;
    }
  }

  if (paired) {
    const [now, then] = [paired[THIS], paired[baseline.target]];
    const rps = now.rps / then.rps;
    const p99 = now.p99 / then.p99;
    const cpu = now.cpuUs / then.cpuUs;
    console.log(
      `\n| ${tiny}, medians of paired runs | this tree | ${baseline.target} | ratio | within ${WITHIN * 100}% |\n|---|---:|---:|---:|---|`,
    );
    console.log(
      `| req/s | ${now.rps.toFixed(0)} | ${then.rps.toFixed(0)} | ${rps.toFixed(2)} | ${yes(rps >= 1 - WITHIN)} |`,
    );
    console.log(
      `| p99 ms | ${now.p99.toFixed(2)} | ${then.p99.toFixed(2)} | ${p99.toFixed(2)} | ${yes(p99 <= 1 + WITHIN)} |`,
    );
    console.log(
      `| router CPU µs per request | ${now.cpuUs.toFixed(1)} | ${then.cpuUs.toFixed(1)} | ${cpu.toFixed(2)} | ${yes(cpu <= 1 + WITHIN)} |`,
    );
    ratios['paired medians: this tree / baseline req/s'] = rps;
    ratios['paired medians: this tree / baseline p99'] = p99;
    ratios['paired medians: this tree / baseline CPU per request'] = cpu;
  }

  if (Object.keys(slowRows).length > 0) {
    console.log(
      `\n| slow readers: ${slow.clients} × ${slowSize} at ${kib(slow.rate)} KiB/s | RSS before MiB | RSS peak MiB | per connection KiB | kernel TCP buffers, peak growth MiB | complete | took s |\n|---|---:|---:|---:|---:|---:|---:|`,
    );
    for (const [name, r] of Object.entries(slowRows)) {
      console.log(
        `| ${name} | ${mib(r.before)} | ${mib(r.peak)} | ${kib(r.perConnection)} | ${mib(r.kernelTcpGrowth)} | ${r.complete}/${r.clients} | ${r.seconds.toFixed(1)} |`,
      );
      if (r.complete < r.clients) console.log(`  ${name}: incomplete clients, e.g. ${JSON.stringify(r.failures)}`);
    }
    const [now, then] = [slowRows[THIS], baseline && slowRows[baseline.target]];
    if (now && then) {
      ratios['this tree / baseline memory per slow connection'] = now.perConnection / then.perConnection;
      console.log(
        `\nmemory per slow connection, this tree / ${baseline.target}: ${(now.perConnection / then.perConnection).toFixed(2)}`,
      );
    }
  }
  return ratios;
}
