/**
 * A client for the router's admin endpoint (over TCP on loopback), used by the demo and
 * by the controller to read `/stats` and write `/table`.
 */
import type { StatsSnapshot } from './stats.js';
import type { RoutingTable } from '../config/schemas/table.js';

export class AdminClient {
  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly timeoutMs = 2000,
  ) {}

  stats(): Promise<StatsSnapshot> {
    return this.get<StatsSnapshot>('/stats');
  }

  table(): Promise<{ revision: number; table: RoutingTable }> {
    return this.get('/table');
  }

  /** Replaces the table if it is still at `revision` (the router answers 412 otherwise). */
  async setTable(table: RoutingTable, revision: number): Promise<void> {
    const res = await fetch(`${this.url}/table`, { method: 'PUT', headers: { ...this.headers(), 'content-type': 'application/json', 'if-match': String(revision) }, body: JSON.stringify(table), signal: AbortSignal.timeout(this.timeoutMs) });
    if (!res.ok) throw new Error(`router refused the table: ${res.status} ${await res.text()}`);
  }

  private async get<T>(path: string): Promise<T> {
    const res = await fetch(`${this.url}${path}`, { headers: this.headers(), signal: AbortSignal.timeout(this.timeoutMs) });
    if (!res.ok) throw new Error(`router admin ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  private headers(): Record<string, string> {
    return { authorization: `Bearer ${this.token}` };
  }
}
