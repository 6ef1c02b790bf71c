import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { closeWithAnswer } from './refusal.js';

/** A request read from a client connection whose answer has not finished. */
interface Open {
  req: IncomingMessage;
  res: ServerResponse;
  /** Gives up on forwarding it: its upstream connection is closed before the request is whole. */
  abandon(): void;
}

const STATE = Symbol('kanari.connection');

/** Requests one connection may have open at once; one more is refused (each holds memory and may hold an upstream connection). */
export const MAX_PIPELINED = 32;
/** Requests read after a refusal before the connection is dropped without lingering: Node builds an object for each. */
const MAX_IGNORED = 8;

/**
 * What kanari keeps per client connection to refuse requests without harming those before
 * them: a client may pipeline, so when something it sent is refused — a bad head, a body that
 * broke or stalled, a parse error — the requests read whole before it have reached an upstream
 * and are answered first; then the refusal, then the connection closes. Nothing read after
 * a refusal is forwarded.
 */
export class ClientConnection {
  /** Oldest first; Node answers pipelined requests in the order they came. */
  private readonly open: Open[] = [];
  /** A refusal has been decided: the connection is closing. */
  refused = false;
  private ignored = 0;

  private constructor(private readonly socket: Socket) {}

  static of(socket: Socket): ClientConnection {
    const s = socket as Socket & { [STATE]?: ClientConnection };
    return (s[STATE] ??= new ClientConnection(socket));
  }

  track(req: IncomingMessage, res: ServerResponse, abandon: () => void): void {
    const entry = { req, res, abandon };
    this.open.push(entry);
    res.once('close', () => {
      const i = this.open.indexOf(entry);
      if (i >= 0) this.open.splice(i, 1);
    });
  }

  /** As many requests are open as one connection may have. */
  get full(): boolean {
    return this.open.length >= MAX_PIPELINED;
  }

  /** A request read after a refusal is not forwarded; a client that keeps sending them is cut off. */
  ignore(): void {
    if (++this.ignored > MAX_IGNORED) this.socket.destroy();
  }

  /** The request read last, while its answer is open. */
  get last(): Open | undefined {
    return this.open.at(-1);
  }

  /** Runs `then` once every open answer has gone out; if one is cut short, the connection goes too. */
  afterAnswers(then: () => void): void {
    this.after(this.last, then);
  }

  /** Runs `then` once `entry`'s answer (and so every one before it) has gone out. */
  private after(entry: Open | undefined, then: () => void): void {
    if (!entry || entry.res.writableFinished) return then();
    entry.res.once('close', () => (entry.res.writableFinished ? then() : this.socket.destroy()));
  }

  /**
   * Refuses what the client sent last with `status` and `reason`; false when a refusal was
   * already decided. A request read only in part (its body broke or stalled) is abandoned,
   * so its upstream never gets it whole; if its answer has already begun, all that is left
   * is to cut the connection.
   */
  refuse(status: number, reason: string): boolean {
    if (this.refused) return false;
    this.refused = true;
    const last = this.last;
    const broken = last && !last.req.complete ? last : undefined;
    broken?.abandon();
    if (broken?.res.headersSent) {
      this.socket.destroy();
      return true;
    }
    this.after(this.open.filter((e) => e !== broken).at(-1), () => closeWithAnswer(this.socket, status, reason));
    return true;
  }
}
