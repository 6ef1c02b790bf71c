/**
 * A watch: one long GET whose answer is a stream of JSON lines, one event each. Lines are
 * bounded (a line that never ends cannot fill memory), an ERROR event becomes the error it
 * carries (410 → `KubeGone`, so the caller lists again), and a stream that outlives the
 * timeout it asked the server for, by a grace period, is cut: a server that stalls or
 * drips cannot hold a watch forever.
 */
import type { IncomingMessage } from 'node:http';
import { KubeError, type KubeObject, type Watch, type WatchEvent } from './api.js';
import { cutShort, formatBytes, INVALID_RESPONSE, statusError } from './http-errors.js';
import { readBody, type RequestSpec, type Transport } from './http-transport.js';

export interface WatchLimits {
  /** The `timeoutSeconds` asked of the server, after which it ends the stream (the caller watches again). */
  timeoutSeconds: number;
  /** How long past that the stream may last before kanari cuts it. */
  graceMs: number;
  /** The longest event line; objects are at most ~1.5 MB in etcd. */
  maxLineBytes: number;
}

const TYPES = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK']);

export function openWatch<T extends KubeObject>(
  transport: Transport,
  spec: RequestSpec,
  limits: WatchLimits,
  onEvent: (event: WatchEvent<T>) => void,
): Watch {
  const what = `watch ${spec.path.split('?')[0]}`;
  const controller = new AbortController();
  let stopped = false;
  let response: IncomingMessage | undefined;
  let finish: (err?: unknown) => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    finish = (err) => {
      // Once: destroying the response below makes it report an abort, which is not news.
      if (stopped) return;
      stopped = true;
      if (err === undefined) resolve();
      else reject(err as Error);
      clearTimeout(timer);
      controller.abort();
      response?.destroy();
    };
  });
  const deadline = Date.now() + limits.timeoutSeconds * 1000 + limits.graceMs;
  const timer = setTimeout(
    () =>
      finish(
        new KubeError(
          0,
          'Timeout',
          `${what}: the stream outlived its ${limits.timeoutSeconds} s timeout by ${limits.graceMs / 1000} s`,
        ),
      ),
    deadline - Date.now(),
  );
  transport.open(spec, Math.min(deadline, Date.now() + transport.limits.timeoutMs), controller.signal).then((res) => {
    response = res;
    if (stopped) {
      res.destroy();
    } else if (res.statusCode !== 200) {
      readBody(res, 64 * 1024, deadline, what).then(
        (text) => finish(statusError(res.statusCode ?? 0, text, what)),
        finish,
      );
    } else {
      readLines(res, limits.maxLineBytes, what, (line) => deliver(line, what, onEvent), finish);
    }
  }, finish);
  return {
    done,
    stop: () => finish(),
  };
}

/** Splits a stream into lines of at most `max` bytes; `end` is called once, with an error or without. */
function readLines(
  res: IncomingMessage,
  max: number,
  what: string,
  onLine: (line: string) => void,
  end: (err?: unknown) => void,
): void {
  let partial = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    let start = 0;
    for (let newline = chunk.indexOf('\n'); newline >= 0; newline = chunk.indexOf('\n', start)) {
      const line = partial + chunk.slice(start, newline);
      partial = '';
      start = newline + 1;
      if (!line.trim()) continue;
      try {
        onLine(line);
      } catch (err) {
        return end(err);
      }
    }
    partial += chunk.slice(start);
    // Characters, not bytes: a bound of the same order, without encoding each piece again.
    if (partial.length > max)
      end(new KubeError(0, INVALID_RESPONSE, `${what}: an event is longer than ${formatBytes(max)}`));
  });
  res.once('end', () => end());
  res.once('error', (err) => end(cutShort(what, err)));
  res.once('aborted', () => end(cutShort(what, new Error('the connection closed'))));
}

function deliver<T extends KubeObject>(line: string, what: string, onEvent: (event: WatchEvent<T>) => void): void {
  let event: { type?: unknown; object?: unknown };
  try {
    event = JSON.parse(line) as typeof event;
  } catch {
    throw new KubeError(0, INVALID_RESPONSE, `${what}: an event is not JSON`);
  }
  const object = event?.object as Record<string, unknown> | undefined;
  if (event?.type === 'ERROR') {
    const code = typeof object?.code === 'number' ? object.code : 500;
    throw statusError(code, JSON.stringify(object ?? {}), what);
  }
  if (typeof event?.type !== 'string' || !TYPES.has(event.type)) {
    throw new KubeError(
      0,
      INVALID_RESPONSE,
      `${what}: an event of unknown type ${JSON.stringify(String(event?.type)).slice(0, 40)}`,
    );
  }
  const metadata = object?.metadata as Record<string, unknown> | undefined;
  if (typeof metadata !== 'object' || metadata === null || typeof metadata.resourceVersion !== 'string') {
    throw new KubeError(
      0,
      INVALID_RESPONSE,
      `${what}: an event of type ${event.type} without an object's metadata.resourceVersion`,
    );
  }
  onEvent(event as WatchEvent<T>);
}
