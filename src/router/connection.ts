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
   * so its upstream never gets it whole; the caller cuts the connection instead when that
   * request's answer has already begun.
   */
  refuse(status: number, reason: string): boolean {
    if (this.refused) return false;
    this.refused = true;
    const last = this.last;
    const broken = last && !last.req.complete ? last : undefined;
    broken?.abandon();
    this.after(this.open.filter((e) => e !== broken).at(-1), () => closeWithAnswer(this.socket, status, reason));
    return true;
  }
}
