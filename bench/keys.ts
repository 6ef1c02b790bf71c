// bench/keys: the router's key tracker against a JS Set<string> of the keys (what a naive
// tracker would hold), each fed the same N distinct stickiness keys in a process of its own,
// so each one's memory growth is its own. Prints memory held, the sampled share and ns per
// record, and the ratios.
//
//   npm run bench:keys [-- --keys 10000000 --slots 4194304]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { KeyRecorder, KeyTracker } from '../src/router/keys.js';

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '10000000' },
    slots: { type: 'string', default: String(2 ** 22) },
    peer: { type: 'string' },
  },
});
const n = Number(values.keys);
const CHUNK = 100_000;

interface Result {
  peer: string;
  /** What the structure says it holds (the tracker's `bytes`; the Set cannot say). */
  bytes?: number;
  rssGrowth: number;
  heapGrowth: number;
  nsPerRecord: number;
  sampling?: number;
  tracked: number;
}

/** A cookie-like key for user i, built the same way for every peer. */
const keyOf = (i: number) => `u${i.toString(36)}.${(Math.imul(i, 2654435761) >>> 0).toString(36)}`;

function measure(peer: string): Result {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage();
  let record: (key: string) => void;
  let tracker: KeyTracker | undefined;
  let set: Set<string> | undefined;
  if (peer === 'tracker') {
    tracker = new KeyTracker(Number(values.slots));
    const recorder = new KeyRecorder('bench', tracker);
    record = (key) => recorder.record(key, 'stable', 200, 0.02);
  } else if (peer === 'set') {
    const s = (set = new Set<string>());
    record = (key) => void s.add(key);
  } else {
    throw new Error(`no peer ${peer}`);
  }
  // Keys are made in chunks outside the clock, so only recording is timed.
  const chunk: string[] = new Array<string>(CHUNK);
  // CPU time, not wall time: on a busy machine the wall clock also counts other processes' turns.
  let cpuMicros = 0;
  for (let from = 0; from < n; from += CHUNK) {
    const m = Math.min(CHUNK, n - from);
    for (let j = 0; j < m; j++) chunk[j] = keyOf(from + j);
    const started = process.cpuUsage();
    for (let j = 0; j < m; j++) record(chunk[j]!);
    const used = process.cpuUsage(started);
    cpuMicros += used.user + used.system;
  }
  chunk.fill('');
  const ns = (cpuMicros * 1000) / n;
  gc?.();
  const after = process.memoryUsage();
  return {
    peer,
    ...(tracker ? { bytes: tracker.tracking().bytes, sampling: tracker.tracking().sampling } : {}),
    rssGrowth: after.rss - before.rss,
    heapGrowth: after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers,
    nsPerRecord: ns,
    tracked: tracker ? tracker.tracking().tracked : (set?.size ?? 0),
  };
}

if (values.peer) {
  process.stdout.write(JSON.stringify(measure(values.peer)));
} else {
  const run = (peer: string): Result => {
    const child = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--expose-gc',
        '--max-old-space-size=8192',
        fileURLToPath(import.meta.url),
        '--peer',
        peer,
        '--keys',
        String(n),
        '--slots',
        values.slots,
      ],
      { encoding: 'utf8', maxBuffer: 1 << 20 },
    );
    if (child.status !== 0) throw new Error(`${peer} failed: ${child.stderr}`);
    return JSON.parse(child.stdout) as Result;
  };
  const [tracker, set] = [run('tracker'), run('set')];
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  console.log(`${n.toLocaleString('en')} distinct keys, one process per peer, Node ${process.version}\n`);
  console.log(
    '| peer | held (its own count) | RSS growth | heap + buffers growth | CPU ns per record | keys held | sampled share |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const r of [tracker, set])
    console.log(
      `| ${r.peer === 'tracker' ? 'KeyTracker' : 'Set<string>'} | ${r.bytes === undefined ? '—' : mb(r.bytes)} | ${mb(r.rssGrowth)} | ${mb(r.heapGrowth)} | ${r.nsPerRecord.toFixed(0)} | ${r.tracked.toLocaleString('en')} | ${r.sampling ?? 1} |`,
    );
  console.log(
    `\nSet / tracker: RSS growth ${(set.rssGrowth / tracker.rssGrowth).toFixed(1)}×, heap + buffers ${(set.heapGrowth / tracker.heapGrowth).toFixed(1)}×, CPU ns per record ${(set.nsPerRecord / tracker.nsPerRecord).toFixed(2)}×`,
  );
}
