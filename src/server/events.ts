/**
 * `GET /api/v1/events`: the store's event log as Server-Sent Events. Each client has a
 * cursor (the last id it was sent) and is fed from the store page by page, only while its
 * socket takes more; so what a client has not read waits in the store, not in memory. A
 * client that takes nothing for `stallMs` while events wait is told (`event: overflow`,
 * with the id to resume after) and disconnected.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { EventRow } from '../store/sqlite.js';
import { HttpError, LINGER_MS } from '../shared/http.js';

/** What the stream needs of the store. */
export interface EventLog {
  eventsAfter(after: number, options: { rollout?: string; limit?: number }): EventRow[];
  /** The newest event's id (0 for none). */
  lastEventId(): number;
  /** The id of a rollout's last `deleted` event (0 for none): what came before is an earlier rollout of the name. */
  deletedAt(rollout: string): number;
  onAppend(listener: () => void): () => void;
}

export interface EventStreamOptions {
  /** A comment line this often keeps proxies and clients from timing the connection out. */
  heartbeatMs: number;
  /** How long a client may take nothing while events wait for it. */
  stallMs: number;
  maxClients: number;
  /** Events read from the store at a time, and so at most written past the socket's high-water mark. */
  pageSize: number;
}

export const EVENT_STREAM_DEFAULTS: EventStreamOptions = {
  heartbeatMs: 15_000,
  stallMs: 30_000,
  maxClients: 64,
  pageSize: 200,
};

interface Client {
  res: ServerResponse;
  rollout?: string;
  /** A rollout's own stream, which ends with its `deleted` event. */
  own?: true;
  cursor: number;
  /** Since when the socket has refused more while events wait; undefined while it takes them. */
  blockedSince?: number;
}

export class EventStream {
  private readonly clients = new Set<Client>();
  private readonly stopListening: () => void;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly log: EventLog,
    private readonly options: EventStreamOptions = EVENT_STREAM_DEFAULTS,
  ) {
    this.stopListening = log.onAppend(() => {
      for (const c of this.clients) this.pump(c);
    });
    this.heartbeat = setInterval(() => this.beat(), options.heartbeatMs);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Bytes waiting in each client's response: what a slow reader costs (bounded by a page past the high-water mark). */
  buffered(): number[] {
    return [...this.clients].map((c) => c.res.writableLength);
  }

  /** Serves one client: the backlog after its cursor, then live events, until it goes away. */
  serve(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
    const rollout = query.get('rollout') ?? undefined;
    this.open(
      req,
      res,
      resumeAfter(req, query, () => this.log.lastEventId()),
      rollout,
    );
  }

  /**
   * Serves one rollout's own stream (`/api/v1/rollouts/:name/events`, for a rollout the caller
   * checked is held): its events since it was last applied under the name, as its history
   * shows them, until it is deleted.
   */
  serveRollout(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, rollout: string): void {
    const cursor = Math.max(
      resumeAfter(req, query, () => this.log.lastEventId()),
      this.log.deletedAt(rollout),
    );
    this.open(req, res, cursor, rollout, true);
  }

  private open(req: IncomingMessage, res: ServerResponse, cursor: number, rollout?: string, own?: true): void {
    if (this.clients.size >= this.options.maxClients)
      throw new HttpError(
        503,
        `too many event stream clients (at most ${this.options.maxClients}); try again later`,
        {},
        {
          'retry-after': '5',
        },
      );
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // Proxies that buffer (nginx) would hold the events back.
      'x-accel-buffering': 'no',
    });
    // Tells a browser's EventSource how long to wait before it reconnects on its own.
    res.write('retry: 2000\n\n');
    const client: Client = { res, cursor, ...(rollout === undefined ? {} : { rollout }), ...(own ? { own } : {}) };
    this.clients.add(client);
    const gone = () => this.clients.delete(client);
    res.on('close', gone);
    res.on('drain', () => {
      client.blockedSince = undefined;
      this.pump(client);
    });
    req.socket.setNoDelay(true);
    this.pump(client);
  }

  /** Ends every stream (the controller stops); clients resume from their last id elsewhere. */
  close(): void {
    clearInterval(this.heartbeat);
    this.stopListening();
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  private pump(c: Client): void {
    try {
      this.feed(c);
    } catch {
      // The store went away under the stream (the controller stopping): the client resumes elsewhere.
      c.res.destroy();
      this.clients.delete(c);
    }
  }

  private feed(c: Client): void {
    if (c.res.writableEnded || c.res.destroyed) return;
    if (c.res.writableNeedDrain) return this.blocked(c);
    for (;;) {
      const page = this.log.eventsAfter(c.cursor, {
        limit: this.options.pageSize,
        ...(c.rollout === undefined ? {} : { rollout: c.rollout }),
      });
      if (page.length === 0) return;
      let text = '';
      for (const e of page) {
        text += `id: ${e.id}\ndata: ${JSON.stringify(e)}\n\n`;
        c.cursor = e.id;
        // The rollout is gone: its stream ends as the operator's does, and a client that reconnects is told 404.
        if (c.own && e.type === 'deleted') {
          c.res.end(text);
          this.clients.delete(c);
          return;
        }
      }
      if (!c.res.write(text)) return this.blocked(c);
    }
  }

  private blocked(c: Client): void {
    c.blockedSince ??= Date.now();
    if (Date.now() - c.blockedSince < this.options.stallMs) return;
    // Past the buffer already: one small last event, then the connection goes whatever the client does.
    c.res.end(
      `event: overflow\ndata: ${JSON.stringify({ after: c.cursor, reason: 'the client read too slowly' })}\n\n`,
    );
    setTimeout(() => c.res.destroy(), LINGER_MS).unref();
    this.clients.delete(c);
  }

  private beat(): void {
    for (const c of this.clients) {
      if (c.res.writableNeedDrain) this.blocked(c);
      else c.res.write(': heartbeat\n\n');
    }
  }
}

/**
 * The id a client resumes after: `Last-Event-ID` (what a reconnecting EventSource sends) over
 * `?after=`, else 0. `?after=now` is the newest event's: a page that reads the state just after
 * the stream opens misses nothing, and is not sent the whole log first.
 */
export function resumeAfter(req: IncomingMessage, query: URLSearchParams, newest: () => number): number {
  // An empty one is what no id yet looks like (EventSource sends none then); ?after decides.
  const header = req.headers['last-event-id'] || undefined;
  const [text, where] =
    header !== undefined ? [String(header), 'the Last-Event-ID header'] : [query.get('after') ?? '0', 'after'];
  if (header === undefined && text === 'now') return newest();
  if (!/^\d{1,15}$/.test(text))
    throw new HttpError(
      400,
      `${where} must be an event id, a non-negative integer${header === undefined ? ', or now' : ''} (got ${JSON.stringify(text.slice(0, 40))})`,
    );
  return Number(text);
}

/** The query of a rollout's own stream (`GET /api/v1/rollouts/:name/events`), the same in both modes. */
export const ROLLOUT_EVENTS_QUERY = {
  after: {
    schema: z.string(),
    description: 'the event id to resume after, or `now` for only what comes next (Last-Event-ID wins over it)',
  },
};
