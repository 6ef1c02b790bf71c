// The slow-reader row: N clients (another process) each read a big response slowly through a
// proxy, while the proxy's resident memory is sampled; reports what each connection costs it.
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelTcpBytes, processTree, rss } from './procs.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const SAMPLE_MS = 100;

/** `pid` is the proxy's (its children are counted too); returns bytes and the clients' tally. */
export async function slowReaders(pid, port, { clients, rate, path, bytes }) {
  const pids = processTree(pid);
  const before = rss(pids);
  const kernelBefore = kernelTcpBytes();
  let peak = before;
  let kernelPeak = kernelBefore;
  let allStarted;
  let done;
  const sample = () => {
    peak = Math.max(peak, rss(pids));
    kernelPeak = Math.max(kernelPeak, kernelTcpBytes());
  };
  const sampler = setInterval(sample, SAMPLE_MS);
  const child = fork(join(here, 'slow-readers.mjs'), [port, path, clients, rate, bytes].map(String), {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  child.on('message', (m) => {
    if (m.type === 'allStarted') {
      sample();
      allStarted = rss(pids);
    }
    if (m.type === 'done') done = m;
  });
  await exited;
  clearInterval(sampler);
  if (!done) throw new Error('the slow-reader clients exited without a tally');
  return {
    clients,
    rate,
    before,
    peak,
    allStarted,
    perConnection: (peak - before) / clients,
    // Socket buffers are in no process's RSS, and on Linux a proxy's send buffer grows to hold a whole 1 MiB body.
    kernelTcpGrowth: kernelPeak - kernelBefore,
    complete: done.complete,
    failures: done.failures,
    seconds: done.seconds,
  };
}
