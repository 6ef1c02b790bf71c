import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loopbackRouter, type RouterDocument } from '../../src/config/schemas/router.js';
import type { RoutingTableInput } from '../../src/config/schemas/table.js';
import { startRouter, type RouterHandle } from '../../src/router/run.js';
import { startCli } from './cli.js';
import { startAsMiddleService } from './shared-router.js';

export const TOKEN = 'test-token-0123456789';

export interface TestRouter extends RouterHandle {
  port: number;
  doc: RouterDocument;
  admin(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; json: any }>;
  setTable(table: RoutingTableInput): Promise<number>;
}

/**
 * A router on 127.0.0.1 with a fresh state directory (or `state` to reuse one). With
 * KANARI_TEST_SHARED_ROUTER=1 it is service 2 of 3 in one shared router process instead
 * (test/helpers/shared-router.ts), so every suite using this runs against that too.
 */
export async function startTestRouter(
  table: RoutingTableInput,
  spec: Record<string, unknown> = {},
  state?: string,
): Promise<TestRouter> {
  const doc = loopbackRouter('svc', TOKEN, {
    state: state ?? join(mkdtempSync(join(tmpdir(), 'kanari-router-')), 'table.json'),
    table,
    ...spec,
  });
  const shared = process.env.KANARI_TEST_SHARED_ROUTER === '1';
  const handle = shared ? await startAsMiddleService(table, spec) : await startRouter(doc);
  const prefix = shared ? '/services/svc' : '';
  const admin = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${handle.adminUrl}${prefix}${path}`, {
      method,
      // A lost answer fails naming the call, before the test's own timeout names nothing.
      signal: AbortSignal.timeout(30_000),
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {
      /* not JSON: /metrics */
    }
    return { status: res.status, json };
  };
  return {
    ...handle,
    port: handle.address.port,
    doc,
    admin,
    async setTable(t) {
      const res = await admin('PUT', '/table', t);
      if (res.status !== 200) throw new Error(`PUT /table: ${res.status} ${JSON.stringify(res.json)}`);
      return (res.json as { revision: number }).revision;
    },
  };
}

export interface RouterProcess {
  child: ChildProcess;
  adminPort: number;
  /** What `kanari router` printed so far (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * `kanari router` in its own process, for input that could take a process down: an
 * abort there fails the assertion that it still answers, not the whole test run.
 */
export async function startRouterProcess(table: RoutingTableInput): Promise<RouterProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'kanari-router-'));
  const file = join(dir, 'router.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'kanari.dev/v1alpha1',
      kind: 'Router',
      metadata: { name: 'svc' },
      spec: { listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:0', token: TOKEN }, state: 'table.json', table },
    }),
  );
  const { child, output } = await startCli(['router', '-f', file], /admin on http:\/\/127\.0\.0\.1:\d+/);
  const adminPort = Number(/admin on http:\/\/127\.0\.0\.1:(\d+)/.exec(output())![1]);
  return {
    child,
    adminPort,
    output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A Router file at `<dir>/router.yaml` for `kanari router -f`: listening on a free loopback
 * port, its table kept in `<dir>/state/table.json`, sticky on x-user-id; `admin` is the
 * admin address and `table` the table's body, both as YAML.
 */
export function writeRouterFile(dir: string, name: string, admin: string, table: string): string {
  const file = join(dir, 'router.yaml');
  writeFileSync(
    file,
    `apiVersion: kanari.dev/v1alpha1
kind: Router
metadata: { name: ${name} }
spec:
  listen: 127.0.0.1:0
  admin: { listen: ${admin}, token: ${TOKEN} }
  state: state/table.json
  sticky: { header: x-user-id }
  table:
${table}`,
  );
  return file;
}
