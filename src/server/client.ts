/**
 * How the CLI reaches the controller: `kanari up` writes its address to
 * `<state>/controller.json` and its admin token to `<state>/api-token`; KANARI_TOKEN is
 * another token to send instead, KANARI_URL points elsewhere, and KANARI_CA names the PEM file of the certificate
 * authority an HTTPS controller's certificate is checked against (for a self-signed one,
 * that certificate itself). The local token is only ever sent to loopback.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join, resolve } from 'node:path';
import type { ConfigIssue } from '../config/errors.js';
import { isLoopbackHost } from '../config/schemas/common.js';

/** The state directory: --state, else $KANARI_STATE, else ./.kanari. */
export function stateDir(flag?: string): string {
  return resolve(flag ?? process.env.KANARI_STATE ?? '.kanari');
}

export interface ControllerFile {
  url: string;
  /** With TLS, the name its certificate is for: checked in place of the (loopback) host of `url`. */
  servername?: string;
  pid: number;
  startedAt: number;
}

export function controllerFile(dir: string): string {
  return join(dir, 'controller.json');
}

/** What `kanari up` wrote about itself in `dir`, if anything. */
export function readControllerFile(dir: string): ControllerFile | undefined {
  try {
    return JSON.parse(readFileSync(controllerFile(dir), 'utf8')) as ControllerFile;
  } catch {
    return undefined;
  }
}

export function tokenFile(dir: string): string {
  return join(dir, 'api-token');
}

/** The controller could not be reached (not running, or not where the state says). */
export class Unreachable extends Error {}

/** KANARI_URL and friends name the controller in a way that is refused (exit 2). */
export class BadEnvironment extends Error {}

/** The controller answered with an error. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly issues?: ConfigIssue[],
  ) {
    super(message);
  }
}

export class ApiClient {
  private readonly tls: TlsCheck;

  constructor(
    readonly url: string,
    private readonly token: string,
    servername?: string,
  ) {
    const ca = certificateAuthority();
    this.tls = { ...(ca ? { ca } : {}), ...(servername ? { servername } : {}) };
  }

  /** The controller of a state directory, or of KANARI_URL / KANARI_TOKEN. */
  static forState(dir: string): ApiClient {
    const envUrl = process.env.KANARI_URL;
    if (envUrl) return clientOfUrl(envUrl, dir);
    const file = readControllerFile(dir);
    if (!file) {
      throw new Unreachable(
        `no controller runs for ${dir} (no controller.json there); start one with \`kanari up\`${process.env.KANARI_STATE ? '' : ' in this directory, or pass --state DIR'}`,
      );
    }
    // KANARI_TOKEN acts as another token (a viewer's, say) on the local controller too.
    return new ApiClient(file.url, process.env.KANARI_TOKEN ?? readToken(dir), file.servername);
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /**
   * True once the controller takes no more connections (refused, or dropped unanswered as
   * its server closes). A health check that is only slow is not gone: a controller busy
   * stopping its instances on a loaded machine may take seconds to answer, and what it
   * saves meanwhile is what the next `kanari up` starts from.
   */
  async gone(timeoutMs = 2000): Promise<boolean> {
    try {
      // On a connection of its own: a kept-alive one the server happened to close is reset,
      // which says nothing about whether the controller still runs.
      await exchange(`${this.url}/healthz`, { method: 'GET', timeoutMs, fresh: true, ...this.tls });
      return false;
    } catch (err) {
      const code = (err as { code?: string }).code;
      return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ENOENT';
    }
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: { status: number; text: string };
    try {
      res = await exchange(`${this.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        timeoutMs: 60_000,
        ...this.tls,
      });
    } catch (err) {
      const code = (err as { code?: string }).code ?? (err as Error).message;
      throw new Unreachable(`cannot reach the controller at ${this.url} (${code}); ${hintFor(err, code)}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(res.text);
    } catch {
      throw new ApiError(
        res.status,
        `the controller answered ${res.status} with something that is not JSON: ${res.text.slice(0, 200)}`,
      );
    }
    if (res.status < 200 || res.status > 299) {
      // An RFC 9457 problem: `detail` is the one-line reason, `issues` a file's located issues.
      const p = json as { detail?: string; title?: string; issues?: ConfigIssue[] };
      throw new ApiError(res.status, p.detail ?? p.title ?? `${res.status} ${http.STATUS_CODES[res.status]}`, p.issues);
    }
    return json as T;
  }
}

/**
 * The pid a controller at `url` says it has, if it answers. Its certificate is not
 * checked: this only asks whether the controller a state directory names still runs, and
 * sends no token.
 */
export async function healthPid(url: string): Promise<number | undefined> {
  try {
    const res = await exchange(`${url}/healthz`, { method: 'GET', timeoutMs: 2000, insecure: true });
    return (JSON.parse(res.text) as { pid?: number }).pid;
  } catch {
    return undefined;
  }
}

/** What to do about a failed connection: a certificate for another name is not one to trust. */
function hintFor(err: unknown, code: string): string {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const e = err as { host?: string; cert?: { subjectaltname?: string; subject?: { CN?: string } } };
    const names = e.cert?.subjectaltname ?? `CN=${e.cert?.subject?.CN ?? '?'}`;
    return `its certificate is for ${names}, not ${e.host ?? 'this host'}: reach it by a name the certificate lists`;
  }
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)
    ? 'its certificate is not trusted: set KANARI_CA to the PEM file of its certificate authority'
    : 'is `kanari up` running?';
}

/**
 * The client KANARI_URL names. Off loopback the local token is not sent (KANARI_TOKEN must
 * be), nor is any token in clear text unless KANARI_INSECURE=1: the rule `kanari up` applies.
 */
function clientOfUrl(envUrl: string, dir: string): ApiClient {
  const url = envUrl.replace(/\/$/, '');
  let target: URL | undefined;
  try {
    target = new URL(url);
  } catch {
    // refused just below, as any URL that is not http(s)
  }
  if (!target || !/^https?:$/.test(target.protocol))
    throw new BadEnvironment(`KANARI_URL must be an https:// or http:// URL (got ${JSON.stringify(envUrl)})`);
  if (isLoopbackHost(target.hostname)) return new ApiClient(url, process.env.KANARI_TOKEN ?? readToken(dir));
  if (target.protocol === 'http:' && process.env.KANARI_INSECURE !== '1')
    throw new BadEnvironment(
      `KANARI_URL ${url} is plain http:// to another host: the token and every answer would cross the network in clear text; use https://, or set KANARI_INSECURE=1 to do it anyway`,
    );
  const token = process.env.KANARI_TOKEN;
  if (!token)
    throw new BadEnvironment(
      `KANARI_URL names another host (${target.host}): set KANARI_TOKEN to its token; the local one in ${tokenFile(dir)} is not sent elsewhere`,
    );
  return new ApiClient(url, token);
}

/** How an HTTPS controller's certificate is checked: against `ca`, for the name `servername`. */
interface TlsCheck {
  ca?: Buffer;
  servername?: string;
}

/** The CA KANARI_CA names, read once; a file that cannot be read is said, not ignored. */
function certificateAuthority(): Buffer | undefined {
  const file = process.env.KANARI_CA;
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Unreachable(`cannot read KANARI_CA ${file}: ${(err as Error).message}`);
  }
}

/** One request over HTTP or HTTPS (checked as `TlsCheck` says); the whole answer as text. */
function exchange(
  url: string,
  o: TlsCheck & {
    method: string;
    headers?: Record<string, string>;
    body?: string;
    timeoutMs: number;
    insecure?: boolean;
    /** A new connection, not one the agent keeps alive. */
    fresh?: boolean;
  },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const options = {
      method: o.method,
      headers: o.headers ?? {},
      timeout: o.timeoutMs,
      ...(o.fresh ? { agent: false as const } : {}),
    };
    const onAnswer = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    };
    const req =
      target.protocol === 'https:'
        ? https.request(
            target,
            {
              ...options,
              ...(o.ca ? { ca: o.ca } : {}),
              ...(o.servername ? { servername: o.servername } : {}),
              ...(o.insecure ? { rejectUnauthorized: false } : {}),
            },
            onAnswer,
          )
        : http.request(target, options, onAnswer);
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(o.body);
  });
}

function readToken(dir: string): string {
  try {
    return readFileSync(tokenFile(dir), 'utf8').trim();
  } catch {
    throw new Unreachable(
      `cannot read the controller's token in ${tokenFile(dir)}; set KANARI_TOKEN or pass --state DIR`,
    );
  }
}
