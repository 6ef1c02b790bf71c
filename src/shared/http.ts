/** What kanari's two small JSON servers (the router's admin endpoint, the controller API) share. */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A request that cannot be served, with the status it maps to; `extra` joins the JSON body, `headers` the response. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * What a 500 tells the client: an id to quote, never the error itself (its message may
 * name files, its stack certainly does). The whole error goes to `log` under that id.
 */
export function internalError(req: IncomingMessage, err: unknown, log: (line: string) => void): string {
  return `internal error (logged as ${logInternalError(req, err, log)})`;
}

/** Logs the whole error under a new random id, and returns that id. */
export function logInternalError(req: IncomingMessage, err: unknown, log: (line: string) => void): string {
  const id = randomBytes(4).toString('hex');
  // The path only: a query may hold a code (the sign-in link's, OIDC's callback) or a user's data.
  const [path, query] = (req.url ?? '').split('?', 2);
  log(
    `internal error ${id} answering ${req.method} ${path}${query === undefined ? '' : '?…'}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
  );
  return id;
}

/** The bearer token kept in `file`, made (random, readable by its owner only) the first time. */
export function tokenFromFile(file: string): string {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, randomBytes(24).toString('base64url') + '\n', { mode: 0o600 });
  }
  return readFileSync(file, 'utf8').trim();
}

/** True when the request carries `Authorization: Bearer <token>`, compared in constant time. */
export function bearerChecker(token: string): (req: IncomingMessage) => boolean {
  const expected = Buffer.from(`Bearer ${token}`);
  return (req) => {
    const got = Buffer.from(req.headers.authorization ?? '');
    return got.length === expected.length && timingSafeEqual(got, expected);
  };
}

/**
 * The request body as text. Past `maxBytes`, declared or sent, it rejects with a 413
 * that carries `Connection: close`, and keeps none of the rest. (It used to destroy the
 * request here, which reset the connection before the 413 could be written.)
 */
export function readBody(req: IncomingMessage, maxBytes: number, what: string): Promise<string> {
  const tooLarge = () => new HttpError(413, `${what} larger than ${maxBytes} bytes`, {}, { connection: 'close' });
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length']) > maxBytes) {
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off('data', onData);
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** How long a connection being closed keeps taking (and dropping) what the client still sends, at most. */
export const LINGER_MS = 5000;

/**
 * Answers with `body` as JSON. When the answer closes the connection before the client
 * has finished sending (a 413), the whole answer goes out at once, but the connection
 * stays open, its input dropped, until the client is done or LINGER_MS has passed:
 * closing on unread input resets the connection, and a client still writing can lose
 * the answer with it (RFC 9112 §9.6).
 */
export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  const req = res.req;
  if (headers.connection !== 'close' || req.complete) {
    res.end(text);
    return;
  }
  res.write(text);
  const end = () => {
    clearTimeout(timer);
    if (!res.writableEnded) res.end();
  };
  const timer = setTimeout(end, LINGER_MS);
  req.removeAllListeners('data');
  req.on('end', end).on('close', end).resume();
}

export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  contentType = 'text/plain; version=0.0.4; charset=utf-8',
): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
