import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config/errors.js';
import { parseText } from '../config/load.js';
import { serviceSpec, type ServiceSpec } from '../config/schemas/router.js';
import { newPrivateDir, writePrivateFile } from '../shared/files.js';
import { HttpError } from '../shared/http.js';
import { describeSystemError, StartupError } from '../shared/system.js';
import type { AdminBackend, AdminHost, ServiceSummary } from './admin.js';
import { openService, type Service, type ServiceOptions } from './service.js';

export interface HostOptions {
  /**
   * Holds services/<name>/ (table and, for one added at run time, its spec). Without it the
   * router serves only the service of its file and cannot add others.
   */
  stateDir?: string;
  log: (line: string) => void;
  recordStats: boolean;
}

/** A service that could not open (its port taken, its saved table damaged): why. */
interface Failed {
  reason: string;
}

/**
 * The services one router process serves, each with its own listener, table, revisions
 * and counters. One that cannot open is listed as not serving with its reason and takes
 * no other down; adding it again retries it. Services added at run time are kept in the
 * state directory, so a restarted router opens every one of them again.
 */
export class ServiceRegistry implements AdminHost {
  private readonly services = new Map<string, Service | Failed>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: HostOptions) {}

  /** Opens a service; with `failSoft` a failure is recorded instead of thrown (a router of several services). */
  async open(
    name: string,
    spec: ServiceSpec,
    where: Partial<Pick<ServiceOptions, 'statePath' | 'workers' | 'setting'>> = {},
    failSoft = true,
  ): Promise<Service | undefined> {
    const log = (line: string) => this.o.log(this.o.stateDir ? `${name}: ${line}` : line);
    try {
      const service = await openService(name, spec, {
        statePath: where.statePath ?? this.tablePath(name),
        workers: where.workers ?? 1,
        setting: where.setting ?? 'spec.listen',
        log,
        recordStats: this.o.recordStats,
      });
      this.services.set(name, service);
      if (this.o.stateDir) log(`serving on ${service.address.address}:${service.address.port}`);
      return service;
    } catch (err) {
      const reason = err instanceof StartupError || err instanceof ConfigError ? err.message : String(err);
      if (!failSoft) throw err;
      this.services.set(name, { reason });
      log(`not serving: ${reason}`);
      return undefined;
    }
  }

  /** Opens every service added at run time before the last stop that is not open yet. */
  async restoreAdded(): Promise<void> {
    const dir = this.servicesDir();
    if (!dir || !existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      const file = this.specPath(name);
      if (this.services.has(name) || !existsSync(file)) continue;
      let spec: ServiceSpec;
      try {
        spec = parseText(readFileSync(file, 'utf8'), file, serviceSpec);
      } catch (err) {
        this.services.set(name, { reason: `cannot read its spec ${file}: ${(err as Error).message}` });
        continue;
      }
      await this.open(name, spec);
    }
  }

  sole(): string | undefined {
    return this.services.size === 1 ? [...this.services.keys()][0] : undefined;
  }

  backend(name: string): AdminBackend | string | undefined {
    const s = this.services.get(name);
    return s === undefined ? undefined : 'backend' in s ? s.backend : s.reason;
  }

  list(): ServiceSummary[] {
    return [...this.services].sort(([a], [b]) => a.localeCompare(b)).map(([name, s]) => summary(name, s));
  }

  add(name: string, text: string): Promise<{ created: boolean; summary: ServiceSummary }> {
    const dir = this.o.stateDir;
    if (!dir)
      throw new HttpError(
        409,
        'this router serves the one service of its file; a SharedRouter can add services at run time',
      );
    let spec: ServiceSpec;
    try {
      spec = parseText(text, 'request body', serviceSpec);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      throw new HttpError(400, 'invalid service', {
        issues: err.issues.map(({ line, col, path, message }) => ({ line, col, path, message })),
      });
    }
    return this.serialize(async () => {
      const open = this.services.get(name);
      if (open && 'backend' in open) {
        if (sameListener(open.spec, spec)) return { created: false, summary: summary(name, open) };
        throw new HttpError(
          409,
          `service ${name} already serves with another spec (listen, sticky, timeouts, limits, health or passive differ): DELETE /services/${name} first`,
        );
      }
      // Kept before it opens, so that a restart brings it back even if it never served.
      try {
        newPrivateDir(join(this.servicesDir()!, name));
        writePrivateFile(this.specPath(name), text);
      } catch (err) {
        throw new HttpError(503, `cannot keep service ${name} in ${this.specPath(name)}: ${describeSystemError(err)}`);
      }
      const service = await this.open(name, spec);
      // The reason alone: whoever asked named the service.
      if (!service) throw new HttpError(503, (this.services.get(name) as Failed).reason);
      return { created: true, summary: summary(name, service) };
    });
  }

  remove(name: string, graceMs: number): Promise<void> {
    return this.serialize(async () => {
      const s = this.services.get(name);
      if (!s) throw new HttpError(404, `no service named ${name} (GET /services lists them)`);
      // Its table stays: a service added again under this name carries on from it.
      if (this.o.stateDir) rmSync(this.specPath(name), { force: true });
      this.services.delete(name);
      this.o.log(`${name}: removed; closing its listener`);
      if ('backend' in s) await s.close(graceMs);
    });
  }

  /** Closes every listener; requests in flight get `graceMs` to finish. */
  async close(graceMs?: number): Promise<void> {
    const open = [...this.services.values()].filter((s): s is Service => 'backend' in s);
    this.services.clear();
    await Promise.all(open.map((s) => s.close(graceMs)));
  }

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => {});
    return next;
  }

  private servicesDir(): string | undefined {
    return this.o.stateDir && join(this.o.stateDir, 'services');
  }

  private tablePath(name: string): string {
    if (!this.o.stateDir) throw new Error(`service ${name} needs a state path`);
    return join(this.servicesDir()!, name, 'router-table.json');
  }

  private specPath(name: string): string {
    return join(this.servicesDir()!, name, 'service.yaml');
  }
}

function summary(name: string, s: Service | Failed): ServiceSummary {
  if (!('backend' in s)) return { name, serving: false, reason: s.reason };
  return {
    name,
    serving: true,
    address: { host: s.address.address, port: s.address.port },
    revision: s.backend.current().revision,
  };
}

/** Whether two specs differ only in their first table (which a service that has one ignores). */
function sameListener(a: ServiceSpec, b: ServiceSpec): boolean {
  return JSON.stringify({ ...a, table: null }) === JSON.stringify({ ...b, table: null });
}
