/**
 * A raw TCP upstream for the fuzzers: it keeps every byte each connection brings, splits
 * them into requests with the strict reader, and lets the test answer each one. Nothing
 * here trusts Node's HTTP parser.
 */
import net from 'node:net';
import { readRequest, type StrictRequest } from './strict-http.js';

/** Every fuzz request carries `fz-<case>.<n>-` in its target and in X-Fuzz-Case. */
export const MARKER = /fz-\d+\.\d+-/g;
export const marker = (caseIndex: number, n: number) => `fz-${caseIndex}.${n}-`;

export interface Arrived {
  request: StrictRequest;
  /** Where it sat in the connection's bytes. */
  start: number;
  end: number;
  marker: string | undefined;
}

export interface UpstreamConn {
  id: number;
  socket: net.Socket;
  /** Every byte received, as latin1. */
  data: string;
  requests: Arrived[];
  /** Why the strict reader stopped reading this connection (the router sent something invalid). */
  invalid?: string;
  /** Set by an answer after which no request may follow on this connection: why, and which request it answered. */
  doubtful?: { reason: string; request: number };
  /** Bytes of a later request after a doubtful answer: the router reused a connection it should have closed. */
  reusedAfterDoubt?: string;
  open: boolean;
}

export interface RawUpstreamOptions {
  /** Answers a request: once it is complete, or once its head arrived when `early` says so. */
  answer(request: StrictRequest | undefined, marker: string | undefined, conn: UpstreamConn): void;
  early?(head: string): boolean;
}

export interface RawUpstream {
  urls: string[];
  connections: UpstreamConn[];
  /** Connections the router has open to this upstream now. */
  openCount(): number;
  close(): Promise<void>;
}

/** The first request marker in `text`. */
export function markerIn(text: string): string | undefined {
  return text.match(MARKER)?.[0];
}

/** The upstream's normal answer: 200 naming the request it answers, so the client can tell. */
export function answerSeen(request: StrictRequest | undefined, mark: string | undefined, conn: UpstreamConn): void {
  const body = `seen ${mark ?? 'none'}`;
  const withBody = request?.method !== 'HEAD';
  if (!conn.socket.destroyed)
    conn.socket.write(
      `HTTP/1.1 200 OK\r\nX-Fuzz-Seen: ${mark ?? 'none'}\r\nContent-Length: ${body.length}\r\n\r\n${withBody ? body : ''}`,
      'latin1',
    );
}

/** One upstream listening on `ports` addresses (one per pool), sharing what it records. */
export async function startRawUpstream(opts: RawUpstreamOptions, ports = 1): Promise<RawUpstream> {
  const connections: UpstreamConn[] = [];
  const onConnection = (socket: net.Socket) => {
    const conn: UpstreamConn = { id: connections.length, socket, data: '', requests: [], open: true };
    connections.push(conn);
    let offset = 0;
    let answeredEarly = -1;
    const read = () => {
      while (conn.invalid === undefined && offset < conn.data.length) {
        const r = readRequest(conn.data, offset);
        const headEnd = conn.data.indexOf('\r\n\r\n', offset);
        if (r.kind === 'invalid') {
          conn.invalid = `${r.reason} at byte ${offset}`;
          socket.destroy();
          return;
        }
        if (r.kind === 'incomplete') {
          if (headEnd >= 0 && answeredEarly !== offset && opts.early?.(conn.data.slice(offset, headEnd))) {
            answeredEarly = offset;
            opts.answer(undefined, markerIn(conn.data.slice(offset, headEnd)), conn);
          }
          return;
        }
        const mark = markerIn(conn.data.slice(offset, headEnd));
        conn.requests.push({ request: r.message, start: offset, end: r.end, marker: mark });
        if (answeredEarly !== offset) opts.answer(r.message, mark, conn);
        offset = r.end;
      }
    };
    socket.on('error', () => {});
    socket.on('close', () => (conn.open = false));
    socket.on('data', (chunk: Buffer) => {
      conn.data += chunk.toString('latin1');
      read();
      // Anything past the end of the request a doubtful answer went to is a reuse.
      const answered = conn.doubtful && conn.requests[conn.doubtful.request];
      if (answered && conn.reusedAfterDoubt === undefined && conn.data.length > answered.end)
        conn.reusedAfterDoubt = conn.data.slice(answered.end);
    });
  };
  const servers: net.Server[] = [];
  const urls: string[] = [];
  for (let i = 0; i < ports; i++) {
    const server = net.createServer(onConnection);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    servers.push(server);
    urls.push(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  }
  return {
    urls,
    connections,
    openCount: () => connections.filter((c) => c.open).length,
    async close() {
      for (const c of connections) c.socket.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}
