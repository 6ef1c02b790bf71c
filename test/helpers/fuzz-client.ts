/**
 * The fuzzers' client: raw bytes over a fresh connection, written in pieces, and whatever
 * comes back until the test has what it waits for, the router closes, or time runs out.
 */
import net from 'node:net';
import type { ClientResult } from './fuzz-oracle.js';
import { sleep } from './fuzz-random.js';

export type Progress = 'wait' | 'done' | 'close-soon';

/**
 * Sends `wire` split at `cuts` (a millisecond apart, so reads straddle them) and reads
 * until `progress` says done (or, for "close-soon", a moment later: a client giving up).
 */
export function exchange(
  port: number,
  wire: string,
  cuts: readonly number[],
  progress: (received: string) => Progress,
  opts: { timeoutMs?: number; thenSend?: string } = {},
): Promise<ClientResult> {
  return new Promise((resolve) => {
    const result: ClientResult = { received: '', closed: false, timedOut: false };
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => {
      result.timedOut = true;
      finish();
    }, opts.timeoutMs ?? 4000);
    let decided = false;
    const check = () => {
      if (decided) return;
      const p = progress(result.received);
      decided = p !== 'wait';
      // `thenSend` (the rest of a body the upstream answered early) goes out once the answer is in.
      if (p === 'done' && opts.thenSend !== undefined && !socket.destroyed)
        socket.write(Buffer.from(opts.thenSend, 'latin1'));
      if (p === 'done' && opts.thenSend === undefined) finish();
      else if (p !== 'wait') setTimeout(finish, 30);
    };
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      result.received += chunk.toString('latin1');
      check();
    });
    socket.on('close', () => {
      result.closed = true;
      finish();
    });
    socket.on('connect', async () => {
      let from = 0;
      for (const cut of [...cuts, wire.length]) {
        if (finished || socket.destroyed) return;
        socket.write(Buffer.from(wire.slice(from, cut), 'latin1'));
        from = cut;
        if (cut < wire.length) await sleep(1);
      }
      check();
    });
  });
}

/**
 * Closes a router, but not forever: after `withinMs` it destroys the client connections
 * still open on its port (so the test file can end) and says what it found.
 */
export async function closeRouter(
  router: { port: number; close(graceMs?: number): Promise<void> },
  withinMs = 3000,
): Promise<string[]> {
  const closed = router.close(100).then(() => true);
  if (await Promise.race([closed, sleep(withinMs).then(() => false)])) return [];
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  const left = handles.filter((h): h is net.Socket => h instanceof net.Socket && h.localPort === router.port);
  for (const socket of left) socket.destroy();
  await Promise.race([closed, sleep(withinMs)]);
  return [`close() had not finished after ${withinMs} ms: ${left.length} client connection(s) left open`];
}
