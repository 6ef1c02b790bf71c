import http from 'node:http';
import { request, type Reply } from './http.js';

/** Sends `n` requests, `concurrency` at a time, over keep-alive; `make(i)` shapes request i. */
export async function sendMany(
  port: number,
  n: number,
  concurrency: number,
  make: (i: number) => { path?: string; headers?: Record<string, string>; method?: string; body?: string } = () => ({}),
): Promise<Reply[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const replies: Reply[] = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      replies[i] = await request(port, { ...make(i), agent });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return replies;
}

/**
 * Keeps `concurrency` GET loops running until stop(); every reply and transport error is
 * kept. A request with no answer in 30 s is kept as an error naming it, so stop() cannot hang.
 */
export function keepLoading(
  port: number,
  concurrency: number,
  make: (i: number) => { path?: string; headers?: Record<string, string> } = () => ({}),
) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const replies: Reply[] = [];
  const errors: Error[] = [];
  let stopped = false;
  let i = 0;
  const loop = async () => {
    while (!stopped) {
      try {
        replies.push(await request(port, { ...make(i++), agent, timeoutMs: 30_000 }));
      } catch (err) {
        errors.push(err as Error);
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    replies,
    errors,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

/** Counts replies by the upstream that served them. */
export function byVersion(replies: readonly Reply[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of replies) {
    const v = (r.headers['x-app-version'] as string | undefined) ?? `status-${r.status}`;
    out[v] = (out[v] ?? 0) + 1;
  }
  return out;
}
