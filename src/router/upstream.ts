import type { IncomingMessage } from 'node:http';
import type net from 'node:net';
import { ProtocolError, ResponseParser, type ResponseHead } from './response-parser.js';
import type { UpstreamError } from '../shared/stats-snapshot.js';

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
  /**
   * The response head, once the read that completed it parsed cleanly. `alone` says that
   * read carried no body bytes, so the head should go to the client now rather than wait.
   */
  onResponse(head: ResponseHead, alone: boolean): void;
  /** Return false to pause the upstream until resume(). */
  onData(chunk: Buffer): boolean;
  onEnd(): void;
  /** The request (or part of it) was sent, so only a replayable request may be retried. */
  onError(kind: UpstreamError): void;
}

/**
 * A keep-alive connection to one endpoint, carrying one exchange at a time. What the parser
 * finds in a read is handed on only once the whole read parsed cleanly, so a response found
 * bad in the read that carried its head becomes a 502 rather than half a response. Anything
 * odd — bytes when no request is out, bytes after a response ended, a response that ended
 * before its request was sent — closes the connection rather than reusing it.
 */
/** Where a connection goes back when its exchange is over (the pool that opened it). */
export interface ConnectionOwner {
  release(conn: UpstreamConnection): void;
  forget(conn: UpstreamConnection): void;
}

export class UpstreamConnection {
  private exchange: Exchange | undefined;
  private readonly parser: ResponseParser;
  private headersTimer: NodeJS.Timeout | undefined;
  private bodyDone = true;
  /** Whether the response allows another request on this connection. */
  private keepAlive = true;
  // What the parser found in the current read, held until the read is known to be sound.
  private found: ResponseHead | undefined;
  private readonly chunks: Buffer[] = [];
  private ended = false;

  constructor(
    readonly socket: net.Socket,
    private readonly pool: ConnectionOwner,
  ) {
    this.parser = new ResponseParser({
      head: (head) => (this.found = head),
      data: (chunk) => this.chunks.push(chunk),
      end: () => (this.ended = true),
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.exchange?.body?.resume());
    socket.on('timeout', () => (this.exchange ? this.fail('idleTimeout') : socket.destroy()));
    socket.on('error', () => {}); // 'close' follows and decides
    socket.on('close', (hadError) => this.onClose(hadError));
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
    // A body cut short (the client left, timed out or sent bad framing) must never be
    // completed: the upstream would take what came as the whole request.
    body.on('close', () => {
      if (this.exchange === exchange && !this.bodyDone) this.socket.destroy();
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
    const exchange = this.exchange;
    if (!exchange) {
      this.socket.destroy(); // an upstream talking out of turn is not to be trusted again
      return;
    }
    let extra: Buffer | undefined;
    try {
      extra = this.parser.feed(chunk);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.found = undefined;
      this.chunks.length = 0;
      this.ended = false;
      return this.fail('protocol');
    }
    if (this.found) {
      const head = this.found;
      this.found = undefined;
      clearTimeout(this.headersTimer);
      this.keepAlive = head.keepAlive;
      exchange.onResponse(head, this.chunks.length === 0 && !this.ended);
    }
    for (let i = 0; i < this.chunks.length; i++) {
      // The forwarder may have given up on the exchange from its onResponse.
      if (this.exchange !== exchange) break;
      if (!exchange.onData(this.chunks[i]!)) this.socket.pause();
    }
    this.chunks.length = 0;
    if (this.ended) {
      this.ended = false;
      this.complete(exchange, extra !== undefined && extra.length > 0);
    }
  }

  private complete(exchange: Exchange, extraBytes: boolean): void {
    if (this.exchange !== exchange) return;
    this.exchange = undefined;
    clearTimeout(this.headersTimer);
    exchange.onEnd();
    // Back to the pool only in a clean state: nothing unread, reading, the request all sent.
    const clean =
      this.keepAlive && this.bodyDone && !extraBytes && !this.socket.destroyed && this.socket.readableLength === 0;
    if (!clean) return void this.socket.destroy();
    if (!this.socket.isPaused()) return this.pool.release(this);
    // Paused for the client, the socket has not read what may have come after the response.
    // Reading resumes now, and the connection goes back once one round of reads has passed,
    // so bytes already here close it instead of starting the next response.
    this.socket.resume();
    setImmediate(() => setImmediate(() => !this.socket.destroyed && !this.exchange && this.pool.release(this)));
  }

  private fail(kind: UpstreamError): void {
    const exchange = this.exchange;
    this.exchange = undefined;
    clearTimeout(this.headersTimer);
    this.socket.destroy();
    exchange?.onError(kind);
  }

  private onClose(hadError: boolean): void {
    this.pool.forget(this);
    if (!this.exchange) return;
    // A reset is never the end of a read-until-close body: the client must see it cut short.
    if (hadError) return this.fail('reset');
    try {
      this.parser.closed();
    } catch {
      return this.fail('reset');
    }
    // A read-until-close body ends here.
    if (this.ended) {
      this.ended = false;
      this.complete(this.exchange, false);
    }
  }
}
