/** One HTTP exchange for a provider, with the three ways it can end told apart. */
import { AnswerTooLarge, readCapped } from '../../shared/capped-body.js';

/** `unreachable`: no HTTP answer at all (refused, reset, DNS) — which says nothing about the canary. */
export type HttpOutcome =
  | { kind: 'ok'; status: number; text: string }
  | { kind: 'error'; message: string; unreachable?: true }
  | { kind: 'timeout'; message: string };

export interface HttpOptions {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** The largest answer read, in bytes; default {@link MAX_ANSWER_BYTES}. */
  maxBytes?: number;
}

/**
 * Far above any query kanari makes (a range query over an hour of 1 s steps for a few
 * series is a few MiB) and far below what would hurt the process reading it.
 */
export const MAX_ANSWER_BYTES = 32 << 20;

/** Never throws: a refused connection is `error`, no full answer within `timeoutMs` is `timeout`. */
export async function httpRequest(url: string, options: HttpOptions): Promise<HttpOutcome> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    const res = await fetch(url, {
      method: options.method,
      headers: options.headers,
      signal,
      ...(options.body === undefined ? {} : { body: options.body }),
    });
    const text = res.body ? await readCapped(res.body, options.maxBytes ?? MAX_ANSWER_BYTES) : '';
    return { kind: 'ok', status: res.status, text };
  } catch (err) {
    if (err instanceof AnswerTooLarge) return { kind: 'error', message: `${url}: ${err.message}` };
    if (signal.aborted) return { kind: 'timeout', message: `${url} did not answer within ${options.timeoutMs} ms` };
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return {
      kind: 'error',
      message: `${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
      unreachable: true,
    };
  }
}
