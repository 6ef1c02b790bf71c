/**
 * One request to the API server: the connection's TLS and credentials on a keep-alive
 * agent, a deadline, a bound on what is read back, one retry after a 401 with fresh
 * credentials, and every failure turned into a `KubeError` whose message a person can act
 * on (the server's own `Status` message when it sent one).
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { printable } from '../config/errors.js';
import { describeSystemError } from '../shared/system.js';
import { KubeConflict, KubeError, KubeGone } from './api.js';
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

/** Said when the API server answered something kanari cannot use: not JSON, too large, cut short. */
export const INVALID_RESPONSE = 'InvalidResponse';

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
    for (let attempt = 1; ; attempt++) {
      const credential = await this.conn.credentials.current();
      const res = await this.send(spec, credential, deadline, signal);
      if (res.statusCode !== 401 || attempt > 1 || !this.conn.credentials.expire()) return res;
      res.resume();
    }
  }

  private send(
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
    return new Promise((resolve, reject) => {
      const req = lib.request(url, { method: spec.method, headers, agent: this.agent(credential, url.protocol) });
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
      req.once('error', (err) => {
        clearTimeout(timer);
        reject(
          new KubeError(
            0,
            'Unreachable',
            `cannot reach the API server at ${this.conn.server}: ${describeSystemError(err)}`,
            { cause: err },
          ),
        );
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

export function cutShort(what: string, err: unknown): KubeError {
  return new KubeError(
    0,
    'Unreachable',
    `${what}: the API server's answer was cut short: ${describeSystemError(err)}`,
    { cause: err },
  );
}

function timeoutError(what: string, timeoutMs: number): KubeError {
  return new KubeError(
    0,
    'Timeout',
    `${what}: no complete answer from the API server${timeoutMs ? ` within ${timeoutMs / 1000} s` : ' in time'}`,
  );
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** The error a refusal stands for: from its `Status` body when it has one, else from the HTTP status. */
export function statusError(status: number, text: string, what: string): KubeError {
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    // Not a Status: a proxy's HTML page, or nothing. Said below in a few words.
  }
  const reason =
    typeof body.reason === 'string' && /^[A-Za-z]{1,64}$/.test(body.reason)
      ? body.reason
      : (REASONS[status] ?? 'Unknown');
  const message =
    typeof body.message === 'string' && body.message
      ? cut(printable(body.message), 500)
      : `${what}: HTTP ${status} from the API server${text.trim() ? `: ${snippet(text)}` : ''}`;
  if (status === 409) return new KubeConflict(reason, message);
  if (status === 410) return new KubeGone(message);
  return new KubeError(status, reason, message);
}

function snippet(text: string): string {
  return cut(printable(text.trim().replace(/\s+/g, ' ')), 200);
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Math.round(bytes / 1024 / 1024)} MB` : `${Math.round(bytes / 1024)} KB`;
}
