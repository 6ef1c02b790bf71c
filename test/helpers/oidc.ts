/**
 * Single sign-on in tests: the OIDC provider process (oidc-provider-process.ts) started and
 * stopped, and a browser made of fetch — redirects followed by hand, cookies kept per
 * origin, the provider's login and consent forms filled in — so a test can stop at the
 * controller's callback and tamper with it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApiServer } from '../../src/server/api.js';
import { Controller } from '../../src/server/controller.js';
import { OidcSignIn, oidcSettings } from '../../src/server/oidc.js';
import { listenPort } from './controller.js';
import { CLIENT_ID, CLIENT_SECRET } from './oidc-provider-process.js';
import { listeningPort } from './process.js';

const SCRIPT = fileURLToPath(new URL('./oidc-provider-process.ts', import.meta.url));

export interface ProviderProcess {
  issuer: string;
  stop(): Promise<void>;
}

/** Starts the provider with `redirect` as its client's one redirect URL; `env` for its keys. */
export async function startProvider(redirect: string, env: Record<string, string> = {}): Promise<ProviderProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, redirect], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  // Its start-up warnings say it is a development provider, which it is; anything else is shown.
  child.stderr!.on('data', (c: Buffer) => {
    const lines = c
      .toString()
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('oidc-provider WARNING'));
    if (lines.length) process.stderr.write(lines.join('\n') + '\n');
  });
  const port = await listeningPort(child, 'the OIDC provider');
  return {
    issuer: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface SingleSignOnWorld {
  /** The controller API's address. */
  api: string;
  provider: ProviderProcess;
  controller: Controller;
  /** What the controller logged. */
  logged: string[];
  close(): Promise<void>;
}

/**
 * A controller in process with single sign-on through a provider process: admin for the
 * platform group, operator for devs, viewer for readers. `options` are OidcSignIn's (a
 * clock, a fetch that tampers), `env` the provider's.
 */
export async function singleSignOnWorld(
  options: ConstructorParameters<typeof OidcSignIn>[2] = {},
  env: Record<string, string> = {},
): Promise<SingleSignOnWorld> {
  const port = await listenPort();
  const api = `http://127.0.0.1:${port}`;
  const provider = await startProvider(`${api}/auth/oidc/callback`, env);
  const settings = oidcSettings.parse({
    issuer: provider.issuer,
    clientId: CLIENT_ID,
    roleClaim: 'groups',
    scopes: ['openid', 'email', 'groups'],
    roles: { admin: ['platform'], operator: ['devs'], viewer: ['readers'] },
  });
  const oidc = new OidcSignIn(settings, CLIENT_SECRET, { ...options, allowInsecureRequestsForTests: true });
  const dir = mkdtempSync(join(tmpdir(), 'kanari-oidc-'));
  const controller = new Controller(dir);
  const logged: string[] = [];
  const server = createApiServer(controller, 'oidc-test-local-admin-token', () => {}, {
    log: (l) => logged.push(l),
    oidc,
  }) as http.Server;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    api,
    provider,
    controller,
    logged,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await controller.close();
      await provider.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A browser without a screen: cookies by origin (paths ignored), redirects not followed by itself. */
export class FetchBrowser {
  private readonly jar = new Map<string, Map<string, string>>();

  async get(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const u = new URL(url);
    const cookies = [...(this.jar.get(u.origin) ?? new Map<string, string>())].map(([k, v]) => `${k}=${v}`).join('; ');
    const headers = new Headers(init.headers);
    if (cookies) headers.set('cookie', cookies);
    const res = await fetch(u, { ...init, headers, redirect: 'manual' });
    for (const set of res.headers.getSetCookie()) {
      const [pair, ...attrs] = set.split(';');
      const eq = pair!.indexOf('=');
      const [name, value] = [pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim()];
      const jar = this.jar.get(u.origin) ?? new Map<string, string>();
      this.jar.set(u.origin, jar);
      if (attrs.some((a) => /^\s*max-age=0$/i.test(a)) || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    return res;
  }

  cookie(origin: string, name: string): string | undefined {
    return this.jar.get(origin)?.get(name);
  }

  forget(origin: string, name: string): void {
    this.jar.get(origin)?.delete(name);
  }

  /**
   * From `start` (the controller's /auth/oidc/start) through the provider's pages, signing in
   * as `login` and consenting, up to the redirect back to the controller: its URL, not followed.
   */
  async throughProvider(start: string, login: string): Promise<URL> {
    const controller = new URL(start).origin;
    let res = await this.get(start);
    for (let step = 0; step < 20; step++) {
      const location = res.headers.get('location');
      if (location !== null) {
        const next = new URL(location, res.url);
        if (next.origin === controller) return next;
        res = await this.get(next);
        continue;
      }
      const html = await res.text();
      const action = /<form[^>]*action="([^"]+)"[^>]*method="post"/.exec(html)?.[1];
      if (res.status !== 200 || action === undefined)
        throw new Error(`the provider answered ${res.status} without a form: ${html.slice(0, 300)}`);
      const fields = new URLSearchParams();
      for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g))
        fields.set(name!, value!);
      if (fields.get('prompt') === 'login') {
        fields.set('login', login);
        fields.set('password', 'any');
      }
      res = await this.get(new URL(action, res.url), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: fields.toString(),
      });
    }
    throw new Error('the provider sent the browser round more than 20 times');
  }
}
