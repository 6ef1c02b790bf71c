/**
 * How the CLI reaches the controller: `kanari up` writes its address to
 * `<state>/controller.json` and its token to `<state>/api-token`; KANARI_URL and
 * KANARI_TOKEN point elsewhere.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ConfigIssue } from '../config/errors.js';

/** The state directory: --state, else $KANARI_STATE, else ./.kanari. */
export function stateDir(flag?: string): string {
  return resolve(flag ?? process.env.KANARI_STATE ?? '.kanari');
}

export interface ControllerFile {
  url: string;
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
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  /** The controller of a state directory, or of KANARI_URL / KANARI_TOKEN. */
  static forState(dir: string): ApiClient {
    const envUrl = process.env.KANARI_URL;
    if (envUrl) return new ApiClient(envUrl.replace(/\/$/, ''), process.env.KANARI_TOKEN ?? readToken(dir));
    const file = readControllerFile(dir);
    if (!file) {
      throw new Unreachable(
        `no controller runs for ${dir} (no controller.json there); start one with \`kanari up\`${process.env.KANARI_STATE ? '' : ' in this directory, or pass --state DIR'}`,
      );
    }
    return new ApiClient(file.url, readToken(dir));
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new Unreachable(`cannot reach the controller at ${this.url} (${code}); is \`kanari up\` running?`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ApiError(
        res.status,
        `the controller answered ${res.status} with something that is not JSON: ${text.slice(0, 200)}`,
      );
    }
    if (!res.ok) {
      const e = (json as { error?: { message?: string; issues?: ConfigIssue[] } }).error;
      throw new ApiError(res.status, e?.message ?? `${res.status} ${res.statusText}`, e?.issues);
    }
    return json as T;
  }
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
