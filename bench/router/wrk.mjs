// Runs wrk against one target and reads its summary: req/s, MiB/s, p99 and every kind of error.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** wrk prints binary units: its "MB" is 2^20 bytes. */
const BYTES = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };

export function wrk(port, path, { connections, seconds }) {
  // --timeout above the router's 1 s upstream header timeout, so a stalled request shows as its 504.
  const args = [
    '-t1',
    `-c${connections}`,
    `-d${seconds}s`,
    '--timeout',
    '5s',
    '--latency',
    '-s',
    join(here, 'split.lua'),
    `http://127.0.0.1:${port}${path}`,
  ];
  const out = spawnSync('wrk', args, { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`wrk failed: ${out.stderr}`);
  const text = out.stdout;
  const transfer = /Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB)/.exec(text);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]),
    mibps: transfer ? (Number(transfer[1]) * BYTES[transfer[2]]) / BYTES.MB : NaN,
    p99: toMs(/^\s+99%\s+([\d.]+\w+)/m.exec(text)?.[1]),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0),
    socketErrors: socket
      ? { connect: +socket[1], read: +socket[2], write: +socket[3], timeout: +socket[4] }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
  };
}

/** A short run that warms a fresh target up (JIT, upstream pools) before it is measured. */
export function warmUp(port, path) {
  spawnSync('wrk', ['-t1', '-c8', '-d1s', '-s', join(here, 'split.lua'), `http://127.0.0.1:${port}${path}`]);
}

/** `connect 0, read 3, …` with the zero kinds left out; '' when there were none. */
export function describeSocketErrors(errors) {
  return Object.entries(errors)
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');
}

function toMs(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text ?? '');
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2]];
}
