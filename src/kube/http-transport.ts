/**
 * One request to the API server: the connection's TLS and credentials on a keep-alive
 * agent, a deadline, a bound on what is read back, one retry after a 401 with fresh
 * credentials, and every failure turned into a `KubeError` whose message a person can act
 * on (the server's own `Status` message when it sent one).
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { createSecureContext } from 'node:tls';
import { KubeError } from './api.js';
import {
  cutShort,
  formatBytes,
  INVALID_RESPONSE,
  networkError,
  snippet,
  statusError,
  timeoutError,
} from './http-errors.js';
import type { Credential } from './credentials.js';
import type { KubeConnection } from './kubeconfig.js';

export interface TransportLimits {
  /** How long a request may take, answer included. */
  timeoutMs: number;
  /** The largest answer read (a list of every pod of a large cluster is tens of MB). */
  maxBodyBytes: number;
}

export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query, after the server's own path prefix. */
  path: string;
  body?: unknown;
  contentType?: string;
}

export interface Answer {
  status: number;
  body: unknown;
}

export class Transport {
  private agents = new Map<string, http.Agent>();
  constructor(
    readonly conn: KubeConnection,
    readonly limits: TransportLimits,
  ) {}

  /** The answer, parsed; a status outside 2xx is thrown as a KubeError unless `accept` lists it. */
  async request(spec: RequestSpec, accept: readonly number[] = []): Promise<Answer> {
    const deadline = Date.now() + this.limits.timeoutMs;
    const res = await this.open(spec, deadline);
    const text = await readBody(res, this.limits.maxBodyBytes, deadline, this.describe(spec));
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      if (accept.includes(status)) return { status, body: undefined };
      throw statusError(status, text, this.describe(spec));
    }
    try {
      return { status, body: text ? JSON.parse(text) : undefined };
    } catch {
      throw new KubeError(
        0,
        INVALID_RESPONSE,
        `${this.describe(spec)}: the API server answered something other than JSON: ${snippet(text)}`,
      );
    }
  }

  /**
   * Sends the request and resolves with the response once its head arrives; after a 401 it
   * asks the credentials for fresh ones and sends it once more. The caller reads the body
   * before `deadline` or destroys the response.
   */
  async open(spec: RequestSpec, deadline: number, signal?: AbortSignal): Promise<IncomingMessage> {
    let staleSocketRetried = false;
    let throttled = 0;
    for (let attempt = 1; ; attempt++) {
      const credential = await this.credential();
      let res: IncomingMessage;
      try {
        res = await this.send(spec, credential, deadline, signal);
      } catch (err) {
        // The server closed an idle keep-alive connection as we reused it: a read is safe to send again.
        if (!(err instanceof StaleSocket)) throw err;
        if (spec.method !== 'GET' || staleSocketRetried) throw err.error;
        staleSocketRetried = true;
        attempt--;
        continue;
      }
      if (res.statusCode === 429 && throttled < MAX_THROTTLED) {
        // API Priority and Fairness refused it before doing anything: a write is as safe to send again as a read.
        const wait = retryAfterMs(res.headers['retry-after']);
        if (Date.now() + wait < deadline) {
          res.resume();
          throttled++;
          attempt--;
          await new Promise((resolve) => setTimeout(resolve, wait));
          continue;
        }
      }
      if (res.statusCode !== 401 || attempt > 1 || !this.conn.credentials.expire()) return res;
      res.resume();
    }
  }

  /** The credentials to send; a plugin that fails is an authentication failure, said in its own words. */
  private async credential(): Promise<Credential> {
    try {
      return await this.conn.credentials.current();
    } catch (err) {
      throw new KubeError(401, 'Unauthorized', `no credentials for the API server: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  private async send(
    spec: RequestSpec,
    credential: Credential,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    const url = new URL(this.conn.server + spec.path);
    const body = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'kanari' };
    if (credential.token) headers.authorization = `Bearer ${credential.token}`;
    if (body !== undefined) {
      headers['content-type'] = spec.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const lib = url.protocol === 'https:' ? https : http;
    const agent = this.agent(credential, url.protocol);
    return new Promise((resolve, reject) => {
      const req = lib.request(url, { method: spec.method, headers, agent });
      const fail = (err: KubeError) => {
        reject(err);
        req.destroy();
      };
      const timer = setTimeout(
        () => fail(timeoutError(this.describe(spec), this.limits.timeoutMs)),
        Math.max(0, deadline - Date.now()),
      );
      const abort = () => fail(new KubeError(0, 'Stopped', `${this.describe(spec)}: stopped`));
      signal?.addEventListener('abort', abort, { once: true });
      req.once('response', (res) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', abort);
        resolve(res);
      });
      req.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const error = new KubeError(
          0,
          'Unreachable',
          `cannot reach the API server at ${this.conn.server}: ${networkError(err)}`,
          { cause: err },
        );
        const stale = req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
        reject(stale ? new StaleSocket(error) : error);
      });
      req.end(body);
    });
  }

  /** One agent per client certificate, since an exec plugin may hand out a new one. */
  private agent(credential: Credential, protocol: string): http.Agent {
    const key = protocol === 'https:' ? `${credential.cert ?? ''}\n${credential.key ?? ''}` : 'http';
    let agent = this.agents.get(key);
    if (!agent) {
      const { tls } = this.conn;
      try {
        // Checked here, where it can be said: the agent would throw it from inside a request.
        createSecureContext({
          ...(tls.ca ? { ca: tls.ca } : {}),
          ...(credential.cert ? { cert: credential.cert, key: credential.key } : {}),
        });
      } catch (err) {
        throw new KubeError(
          0,
          'InvalidConfig',
          `the certificates of ${this.conn.origin} cannot be used: ${(err as Error).message}`,
        );
      }
      agent =
        protocol === 'https:'
          ? new https.Agent({
              keepAlive: true,
              ...(tls.ca ? { ca: tls.ca } : {}),
              rejectUnauthorized: !tls.insecure,
              ...(tls.serverName ? { servername: tls.serverName } : {}),
              ...(credential.cert ? { cert: credential.cert, key: credential.key } : {}),
            })
          : new http.Agent({ keepAlive: true });
      // An exec plugin's expired certificate is not used again.
      for (const [old, used] of this.agents) {
        if (old === 'http') continue;
        used.destroy();
        this.agents.delete(old);
      }
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** Closes idle connections, so a process that is done can exit. */
  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  describe(spec: Pick<RequestSpec, 'method' | 'path'>): string {
    return `${spec.method} ${spec.path.split('?')[0]}`;
  }
}

/** How often a request refused with 429 is sent again (client-go: 10, with its longer deadlines). */
const MAX_THROTTLED = 3;

/** The server's `Retry-After` in seconds, at most 10 s; 1 s when it gives none. */
export function retryAfterMs(header: string | undefined): number {
  const seconds = header !== undefined && /^\d{1,6}$/.test(header.trim()) ? Number(header) : 1;
  return Math.min(seconds, 10) * 1000;
}

/** A request failed on a kept-alive connection the server had closed; `error` says it for a person. */
class StaleSocket extends Error {
  constructor(readonly error: KubeError) {
    super(error.message);
  }
}

/** Reads a body of at most `max` bytes before `deadline`, or fails saying which. */
export function readBody(res: IncomingMessage, max: number, deadline: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (err: KubeError) => {
      clearTimeout(timer);
      reject(err);
      res.destroy();
    };
    const timer = setTimeout(() => fail(timeoutError(what, 0)), Math.max(0, deadline - Date.now()));
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max)
        fail(new KubeError(0, INVALID_RESPONSE, `${what}: the API server's answer is larger than ${formatBytes(max)}`));
      else chunks.push(chunk);
    });
    res.once('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    res.once('error', (err) => fail(cutShort(what, err)));
    res.once('aborted', () => fail(cutShort(what, new Error('the connection closed'))));
  });
}
