import http from 'node:http';

export interface LoadCounts {
  /** Responses by the version the app said served them (x-app-version), or `error:<status>`. */
  byVersion: Map<string, number>;
  requests: number;
  /** Requests that failed on the way, not in the app: no response, or an error response the app did not write. */
  failures: number;
  /** 5xx responses the app itself wrote (they carry its x-app-version). */
  appErrors: number;
  /** Requests that got no response, by error code (ECONNRESET…). */
  errors: Map<string, number>;
}

/**
 * A load generator of `users` distinct users who each keep the cookie kanari gives them,
 * `concurrency` requests in flight at once, until stop() is called.
 */
export function startLoad(
  target: { host: string; port: number },
  opts: { users: number; concurrency: number; path?: string },
) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const jars: (string | undefined)[] = new Array(opts.users).fill(undefined);
  let window: LoadCounts = fresh();
  let stopped = false;
  let next = 0;

  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const user = next++ % opts.users;
      const headers: Record<string, string> = jars[user] ? { cookie: jars[user]! } : {};
      const req = http.get({ host: target.host, port: target.port, path: opts.path ?? '/', agent, headers }, (res) => {
        const cookie = res.headers['set-cookie']?.[0];
        if (cookie) jars[user] = cookie.split(';')[0];
        const status = res.statusCode ?? 0;
        const version = (res.headers['x-app-version'] as string | undefined) ?? `error:${status}`;
        window.byVersion.set(version, (window.byVersion.get(version) ?? 0) + 1);
        window.requests++;
        if (status >= 500 && res.headers['x-app-version'] !== undefined) window.appErrors++;
        else if (status >= 500 || res.headers['x-app-version'] === undefined) window.failures++;
        res.resume();
        res.on('end', resolve);
        res.on('error', () => resolve());
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        const what = err.code ?? err.message;
        window.errors.set(what, (window.errors.get(what) ?? 0) + 1);
        window.requests++;
        window.failures++;
        resolve();
      });
    });

  const loop = async () => {
    while (!stopped) await one();
  };
  const loops = Array.from({ length: opts.concurrency }, loop);

  return {
    /** Counts since the last call. */
    take(): LoadCounts {
      const out = window;
      window = fresh();
      return out;
    },
    async stop() {
      stopped = true;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

function fresh(): LoadCounts {
  return { byVersion: new Map(), requests: 0, failures: 0, appErrors: 0, errors: new Map() };
}
