/** A Server-Sent Events reader for the controller's event stream, as a dashboard would hold one. */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface StreamEvent {
  /** The `event:` field; absent for the stream's events themselves. */
  event?: string;
  id?: number;
  data: { id: number; rollout: string; type: string; data: Record<string, unknown> } & Record<string, unknown>;
}

export class SseReader {
  readonly events: StreamEvent[] = [];
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  /** The raw body so far, for failure messages and comment lines (heartbeats). */
  raw = '';
  readonly closed: Promise<void>;
  private readonly req: http.ClientRequest;

  constructor(url: string, headers: Record<string, string>) {
    let done!: () => void;
    this.closed = new Promise((resolve) => (done = resolve));
    let pending = '';
    this.req = http.get(url, { headers }, (res) => {
      this.status = res.statusCode ?? 0;
      this.headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        this.raw += chunk;
        pending += chunk;
        for (let end = pending.indexOf('\n\n'); end >= 0; end = pending.indexOf('\n\n')) {
          this.parse(pending.slice(0, end));
          pending = pending.slice(end + 2);
        }
      });
      res.on('close', done);
    });
    this.req.on('error', done);
  }

  private parse(block: string): void {
    const fields = new Map<string, string>();
    for (const line of block.split('\n')) {
      if (line.startsWith(':') || line === '') continue;
      const colon = line.indexOf(':');
      fields.set(line.slice(0, colon), line.slice(colon + 1).replace(/^ /, ''));
    }
    if (!fields.has('data')) return;
    const id = fields.get('id');
    const event = fields.get('event');
    this.events.push({
      ...(event === undefined ? {} : { event }),
      ...(id === undefined ? {} : { id: Number(id) }),
      data: JSON.parse(fields.get('data')!) as StreamEvent['data'],
    });
  }

  get lastId(): number | undefined {
    return this.events.filter((e) => e.id !== undefined).at(-1)?.id;
  }

  /** Waits until `ok` holds of the events so far, failing after `ms`. */
  async until(ok: (events: StreamEvent[]) => boolean, ms = 30_000, what = 'the awaited events'): Promise<void> {
    const deadline = Date.now() + ms;
    while (!ok(this.events)) {
      if (Date.now() > deadline)
        throw new Error(
          `${what} did not arrive within ${ms / 1000} s; got ${this.events.length}: ${this.raw.slice(-600)}`,
        );
      await sleep(50);
    }
  }

  close(): void {
    this.req.destroy();
  }
}
