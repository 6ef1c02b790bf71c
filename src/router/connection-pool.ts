import net from 'node:net';
import type { UpstreamError } from '../shared/stats-snapshot.js';
import { UpstreamConnection } from './upstream.js';

/** Idle pooled connections close before Node's default server keep-alive (5 s) would close them. */
const POOL_IDLE_MS = 4000;

type Acquired = (err: UpstreamError | null, conn?: UpstreamConnection) => void;

interface Waiter {
  done: Acquired;
  timer: NodeJS.Timeout;
  connectTimeoutMs: number;
}

/**
 * An endpoint's connections: idle ones reused last-in first-out, new ones made on demand up
 * to `maxConnections`; past that a request waits for one to come free, up to its connect
 * timeout, and then fails with `overflow` (nothing was sent, so it may go elsewhere).
 */
export class ConnectionPool {
  private readonly idle: UpstreamConnection[] = [];
  private readonly open = new Set<UpstreamConnection>();
  private connecting = 0;
  /** Requests waiting for a connection, oldest first; a Set so one that gives up leaves in O(1). */
  private readonly waiting = new Set<Waiter>();
  private closing = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    readonly maxConnections: number,
  ) {}

  /**
   * A connection ready for an exchange: an idle one, or a new one once connected. An
   * error here (`connect`, `connectTimeout`, `overflow`) means nothing was sent, so any
   * request may be retried.
   */
  acquire(connectTimeoutMs: number, done: Acquired): void {
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      if (conn.socket.destroyed || conn.socket.readyState !== 'open') continue;
      conn.socket.ref();
      return done(null, conn);
    }
    if (this.open.size + this.connecting < this.maxConnections) return this.connect(connectTimeoutMs, done);
    const waiter: Waiter = {
      done,
      connectTimeoutMs,
      timer: setTimeout(() => {
        this.waiting.delete(waiter);
        done('overflow');
      }, connectTimeoutMs),
    };
    this.waiting.add(waiter);
  }

  private connect(connectTimeoutMs: number, done: Acquired): void {
    this.connecting++;
    const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
    let settled = false;
    const settle = () => {
      settled = true;
      this.connecting--;
      clearTimeout(timer);
    };
    const timer = setTimeout(() => {
      settle();
      socket.destroy();
      done('connectTimeout');
      this.serveWaiting();
    }, connectTimeoutMs);
    socket.once('connect', () => {
      if (settled) return;
      settle();
      const conn = new UpstreamConnection(socket, this);
      this.open.add(conn);
      done(null, conn);
    });
    socket.once('error', () => {
      if (settled) return;
      settle();
      done('connect');
      this.serveWaiting();
    });
  }

  release(conn: UpstreamConnection): void {
    if (this.closing) {
      conn.socket.destroy();
      return;
    }
    const waiter = this.nextWaiter();
    if (waiter) return waiter.done(null, conn);
    conn.socket.setTimeout(POOL_IDLE_MS);
    conn.socket.unref();
    this.idle.push(conn);
  }

  forget(conn: UpstreamConnection): void {
    this.open.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    this.serveWaiting();
  }

  /** A slot came free: the longest-waiting request gets a new connection. */
  private serveWaiting(): void {
    if (this.closing || this.open.size + this.connecting >= this.maxConnections) return;
    const waiter = this.nextWaiter();
    if (waiter) this.connect(waiter.connectTimeoutMs, waiter.done);
  }

  private nextWaiter(): Waiter | undefined {
    const waiter = this.waiting.values().next().value;
    if (!waiter) return undefined;
    this.waiting.delete(waiter);
    clearTimeout(waiter.timer);
    return waiter;
  }

  /** Closes idle connections now and busy ones as they finish. */
  close(): void {
    this.closing = true;
    for (const conn of this.idle.splice(0)) conn.socket.destroy();
    for (let waiter = this.nextWaiter(); waiter; waiter = this.nextWaiter()) waiter.done('overflow');
  }

  /** Closes everything, busy or not. */
  destroy(): void {
    this.close();
    for (const conn of this.open) conn.socket.destroy();
  }
}
