import http from 'node:http';
import type { ServiceSpec } from '../config/schemas/router.js';
import type { Endpoint } from './pool.js';

type HealthSpec = NonNullable<ServiceSpec['health']>;

/**
 * Active health checks: a GET of `path` on every endpoint each `interval`; a 2xx or
 * 3xx within `timeout` passes. `unhealthyAfter` failures in a row take an endpoint
 * out, `healthyAfter` passes put it back.
 */
export class HealthChecker {
  private timer: NodeJS.Timeout | undefined;
  private readonly streaks = new WeakMap<Endpoint, { ok: number; bad: number }>();

  constructor(
    private readonly spec: HealthSpec,
    private readonly endpoints: () => Endpoint[],
  ) {}

  start(): void {
    const tick = () => {
      for (const ep of this.endpoints()) void this.check(ep);
    };
    tick();
    this.timer = setInterval(tick, this.spec.interval);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async check(ep: Endpoint): Promise<void> {
    const ok = await probe(ep, this.spec.path, this.spec.timeout);
    const streak = this.streaks.get(ep) ?? { ok: 0, bad: 0 };
    this.streaks.set(ep, streak);
    if (ok) {
      streak.ok++;
      streak.bad = 0;
      if (!ep.healthy && streak.ok >= this.spec.healthyAfter) ep.healthy = true;
      // A passing check also ends a passive ejection early: the endpoint is back.
      if (ep.healthy) ep.ejectedUntil = 0;
    } else {
      streak.bad++;
      streak.ok = 0;
      if (ep.healthy && streak.bad >= this.spec.unhealthyAfter) ep.healthy = false;
    }
  }
}

function probe(ep: Endpoint, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(
      {
        host: ep.host,
        port: ep.port,
        path,
        agent: false,
        timeout: timeoutMs,
        headers: { 'user-agent': 'kanari-health' },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode !== undefined && res.statusCode < 400);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
