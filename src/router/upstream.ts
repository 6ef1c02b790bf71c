import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import { ProtocolError, ResponseParser, type ResponseHead } from './response-parser.js';
import type { UpstreamError } from './stats.js';

/** Idle pooled connections close before Node's default server keep-alive (5 s) would close them. */
const POOL_IDLE_MS = 4000;

/** One request/response on an upstream connection, as the forwarder sees it. */
export interface Exchange {
  /** The request head, ending in an empty line; written in one go. */
  head: string;
  /** The request body to stream after the head, or null when there is none. */
  body: IncomingMessage | null;
  /** Re-frame the body as chunked (the client sent it chunked). */
  chunked: boolean;
  /** A response to HEAD has no body whatever its headers say. */
  noResponseBody: boolean;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  onResponse(head: ResponseHead): void;
  /** Return false to pause the upstream until resume(). */
  onData(chunk: Buffer): boolean;
  onEnd(): void;
  /** The request (or part of it) was sent, so only a replayable request may be retried. */
  onError(kind: UpstreamError): void;
}

/**
 * A keep-alive connection to one endpoint, carrying one exchange at a time. Anything odd
 * — bytes when no request is out, bytes after a response ended, a response that ended
 * before its request was sent — closes it rather than reusing it.
 */
export class UpstreamConnection {
  private exchange: Exchange | undefined;
  private readonly parser: ResponseParser;
  private headersTimer: NodeJS.Timeout | undefined;
  private bodyDone = true;
  /** Whether the response allows another request on this connection. */
  private keepAlive = true;

  constructor(readonly socket: net.Socket, private readonly pool: ConnectionPool) {
    this.parser = new ResponseParser({
      head: (head) => {
        clearTimeout(this.headersTimer);
        this.exchange?.onResponse(head);
        this.keepAlive = head.keepAlive;
      },
      data: (chunk) => {
        if (this.exchange && !this.exchange.onData(chunk)) socket.pause();
      },
      end: () => this.complete(),
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.exchange?.body?.resume());
    socket.on('timeout', () => (this.exchange ? this.fail('idleTimeout') : socket.destroy()));
    socket.on('error', () => {}); // 'close' follows and decides
    socket.on('close', () => this.onClose());
  }

  send(exchange: Exchange): void {
    this.exchange = exchange;
    this.keepAlive = true;
    this.parser.reset(exchange.noResponseBody);
    this.socket.setTimeout(exchange.idleTimeoutMs);
    this.headersTimer = setTimeout(() => this.fail('headersTimeout'), exchange.headersTimeoutMs);
    const body = exchange.body;
    this.bodyDone = body === null;
    this.socket.write(exchange.head, 'latin1');
    if (!body) return;
    const socket = this.socket;
    body.on('data', (chunk: Buffer) => {
      if (this.exchange !== exchange) return;
      let ok: boolean;
      if (exchange.chunked) {
        socket.cork();
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
        ok = socket.write('\r\n');
        process.nextTick(() => socket.uncork());
      } else {
        ok = socket.write(chunk);
      }
      if (!ok) body.pause();
    });
    body.on('end', () => {
      if (this.exchange !== exchange) return;
      if (exchange.chunked) socket.write('0\r\n\r\n');
      this.bodyDone = true;
    });
  }

  resume(): void {
    this.socket.resume();
  }

  /** Abandons the exchange (the client left); the connection cannot be reused. */
  abort(): void {
    this.exchange = undefined;
    clearTimeout(this.headersTimer);
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (!this.exchange) {
      this.socket.destroy(); // an upstream talking out of turn is not to be trusted again
      return;
    }
    try {
      const extra = this.parser.feed(chunk);
      if (extra && extra.length > 0) this.socket.destroy();
    } catch (err) {
      if (err instanceof ProtocolError) this.fail('protocol');
      else throw err;
    }
  }

  private complete(): void {
    // The forwarder may have aborted the exchange from its onResponse while the parser
    // was still inside the same chunk; the socket is already gone then.
    const exchange = this.exchange;
    if (!exchange) return;
    this.exchange = undefined;
    clearTimeout(this.headersTimer);
    exchange.onEnd();
    // A response that ended before its request body was sent leaves the stream out of step.
    if (this.keepAlive && this.bodyDone && !this.socket.destroyed) this.pool.release(this);
    else this.socket.destroy();
  }

  private fail(kind: UpstreamError): void {
    const exchange = this.exchange;
    this.exchange = undefined;
    clearTimeout(this.headersTimer);
    this.socket.destroy();
    exchange?.onError(kind);
  }

  private onClose(): void {
    this.pool.forget(this);
    if (!this.exchange) return;
    try {
      this.parser.closed();
    } catch {
      this.fail('reset');
    }
  }
}

/** An endpoint's connections: idle ones reused last-in first-out, new ones made on demand. */
export class ConnectionPool {
  private readonly idle: UpstreamConnection[] = [];
  private readonly open = new Set<UpstreamConnection>();
  private closing = false;

  constructor(private readonly host: string, private readonly port: number) {}

  /**
   * A connection ready for an exchange: an idle one, or a new one once connected. An
   * error here (`connect`, `connectTimeout`) means nothing was sent, so any request may be retried.
   */
  acquire(connectTimeoutMs: number, done: (err: UpstreamError | null, conn?: UpstreamConnection) => void): void {
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      if (conn.socket.destroyed || conn.socket.readyState !== 'open') continue;
      conn.socket.ref();
      return done(null, conn);
    }
    const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      socket.destroy();
      done('connectTimeout');
    }, connectTimeoutMs);
    socket.once('connect', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const conn = new UpstreamConnection(socket, this);
      this.open.add(conn);
      done(null, conn);
    });
    socket.once('error', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done('connect');
    });
  }

  release(conn: UpstreamConnection): void {
    if (this.closing) {
      conn.socket.destroy();
      return;
    }
    conn.socket.setTimeout(POOL_IDLE_MS);
    conn.socket.unref();
    this.idle.push(conn);
  }

  forget(conn: UpstreamConnection): void {
    this.open.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** Closes idle connections now and busy ones as they finish. */
  close(): void {
    this.closing = true;
    for (const conn of this.idle.splice(0)) conn.socket.destroy();
  }

  /** Closes everything, busy or not. */
  destroy(): void {
    this.close();
    for (const conn of this.open) conn.socket.destroy();
  }
}
