import { chmodSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import type http from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import type { AdminAddress, RouterDocument, SharedRouterDocument, RouterSpec } from '../config/schemas/router.js';
import { createAdminServer, type ServiceSummary } from './admin.js';
import { tokenFromFile } from '../shared/http.js';
import { describeSystemError, listenOrExplain, StartupError } from '../shared/system.js';
import { newPrivateDir } from '../shared/files.js';
import { ServiceRegistry } from './registry.js';

export interface RouterOptions {
  /** Relative paths in the document (state, stateDir, tokenFile) are resolved against this directory. */
  baseDir?: string;
  log?: (line: string) => void;
  /** Off only in bench/router, to measure what counting costs. */
  recordStats?: boolean;
}

/** A running router: its admin endpoint, and closing it. */
interface AdminHandle {
  /** `http://127.0.0.1:9901` or `unix:/path`. */
  adminUrl: string;
  adminSocket?: string;
  token: string;
  /** Stops the router; requests in flight get `graceMs` (default 10 s) to finish. */
  close(graceMs?: number): Promise<void>;
}

/** A router of one service (the single-service form of a Router file). */
export interface RouterHandle extends AdminHandle {
  /** Where users send traffic. */
  address: AddressInfo;
  statePath: string;
}

/** A router of several services (a SharedRouter file). */
export interface SharedRouterHandle extends AdminHandle {
  stateDir: string;
  services(): ServiceSummary[];
}

/**
 * Starts `kanari router` for one service: its data plane (in this process, or in N cluster
 * workers) plus the admin endpoint, which owns the routing table and persists every change
 * before it is applied (src/router/service.ts).
 */
export async function startRouter(doc: RouterDocument, opts: RouterOptions = {}): Promise<RouterHandle> {
  const { spec } = doc;
  const service = doc.metadata.name;
  const base = opts.baseDir ?? process.cwd();
  const statePath = spec.state ? resolve(base, spec.state) : resolve('.kanari', service, 'router-table.json');
  const log = opts.log ?? (() => {});
  const host = new ServiceRegistry({ log, recordStats: opts.recordStats ?? true });
  const opened = (await host.open(service, spec, { statePath, workers: spec.workers, setting: 'spec.listen' }, false))!;
  // Read after the state directory exists: a generated token is kept beside the table.
  const token = adminToken(spec.admin, base, dirname(statePath));
  const admin = await serveAdmin(host, spec.admin.listen, base, token, opts.log);
  return { ...admin, address: opened.address, statePath };
}

/**
 * Starts `kanari router` for several services, each on its own listener with its own table,
 * revisions and counters; services added through the admin API are kept in the state
 * directory and opened again by a restart, with every table as it was last given.
 */
export async function startSharedRouter(
  doc: SharedRouterDocument,
  opts: RouterOptions = {},
): Promise<SharedRouterHandle> {
  const { spec } = doc;
  const base = opts.baseDir ?? process.cwd();
  const stateDir = resolve(base, spec.stateDir);
  try {
    newPrivateDir(stateDir);
  } catch (err) {
    throw new StartupError(
      `cannot create the state directory ${stateDir} (spec.stateDir): ${describeSystemError(err)}`,
    );
  }
  const host = new ServiceRegistry({ stateDir, log: opts.log ?? (() => {}), recordStats: opts.recordStats ?? true });
  for (const [i, { name, ...service }] of spec.services.entries())
    await host.open(name, service, { setting: `spec.services[${i}].listen` });
  await host.restoreAdded();
  const token = adminToken(spec.admin, base, stateDir);
  const admin = await serveAdmin(host, spec.admin.listen, base, token, opts.log);
  return { ...admin, stateDir, services: () => host.list() };
}

/** Listens with the admin API over `host`; if it cannot, the host's services are closed. */
async function serveAdmin(
  host: ServiceRegistry,
  listen: AdminAddress,
  base: string,
  token: string,
  log?: (line: string) => void,
): Promise<AdminHandle> {
  const admin = createAdminServer(host, token, log);
  const adminAt = 'unix' in listen ? { unix: resolve(base, listen.unix) } : listen;
  let adminUrl: string;
  try {
    adminUrl = await listenAdmin(admin, adminAt);
  } catch (err) {
    await host.close(0);
    throw err;
  }
  return {
    adminUrl,
    ...('unix' in adminAt ? { adminSocket: adminAt.unix } : {}),
    token,
    async close(graceMs) {
      await new Promise<void>((done) => {
        admin.close(() => done());
        admin.closeAllConnections();
      });
      await host.close(graceMs);
    },
  };
}

async function listenAdmin(server: http.Server, at: AdminAddress): Promise<string> {
  if ('unix' in at) {
    try {
      newPrivateDir(dirname(at.unix));
      await removeStaleSocket(at.unix);
    } catch (err) {
      throw new StartupError(`cannot listen on unix:${at.unix} (spec.admin.listen): ${describeSystemError(err)}`);
    }
    await new Promise<void>((done, fail) => {
      server.once('error', (err) =>
        fail(new StartupError(`cannot listen on unix:${at.unix} (spec.admin.listen): ${describeSystemError(err)}`)),
      );
      server.listen(at.unix, () => done());
    });
    // Connecting takes write permission on the socket: its owner's alone.
    chmodSync(at.unix, 0o600);
    return `unix:${at.unix}`;
  }
  await listenOrExplain(server, at.port, at.host, 'spec.admin.listen');
  const a = server.address() as AddressInfo;
  return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
}

/**
 * A socket file left by a router that died would make listen fail with EADDRINUSE, so it
 * is removed — unless something answers on it: that is a live router's, and taking it
 * would cut that router off from its controller.
 */
async function removeStaleSocket(path: string): Promise<void> {
  try {
    if (!statSync(path).isSocket()) return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path, () => {
      probe.destroy();
      resolve(true);
    });
    probe.on('error', () => resolve(false));
  });
  if (live) throw Object.assign(new Error('in use'), { code: 'EADDRINUSE' });
  unlinkSync(path);
}

/** The admin token: from the file, from tokenFile, from KANARI_ADMIN_TOKEN, or generated once and kept in `keepIn`. */
function adminToken(admin: RouterSpec['admin'], base: string, keepIn: string): string {
  if (admin.token) return admin.token;
  if (admin.tokenFile) {
    const file = resolve(base, admin.tokenFile);
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new StartupError(`cannot read ${file} (spec.admin.tokenFile): ${describeSystemError(err)}`);
    }
  }
  if (process.env.KANARI_ADMIN_TOKEN) return process.env.KANARI_ADMIN_TOKEN;
  const file = join(keepIn, 'admin-token');
  try {
    return tokenFromFile(file);
  } catch (err) {
    throw new StartupError(`cannot keep the admin token in ${file}: ${describeSystemError(err)}`);
  }
}
