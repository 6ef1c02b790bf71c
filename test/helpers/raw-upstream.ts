import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface RawConnection {
  /** Every byte the router sent on this connection, in order. */
  bytes: Buffer;
  /** Request heads seen so far (naively split: head, then Content-Length bytes of body). */
  heads: string[];
  closed: boolean;
}

export interface RawUpstream {
  url: string;
  port: number;
  connections: RawConnection[];
  /** Bytes received on every connection together. */
  received(): number;
  close(): Promise<void>;
}

/**
 * A TCP upstream that records the exact bytes the router sends, so a test can say "not one
 * byte reached the upstream". Each request it can frame (a head, then Content-Length bytes)
 * is answered by `answer`: the bytes it returns, or whatever it writes to the socket itself
 * (by default a 200 with body "ok"); anything else is only recorded.
 */
export async function startRawUpstream(
  answer: (head: string, socket: net.Socket) => string | void = () => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
): Promise<RawUpstream> {
  const connections: RawConnection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const conn: RawConnection = { bytes: Buffer.alloc(0), heads: [], closed: false };
    connections.push(conn);
    sockets.add(socket);
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      conn.bytes = Buffer.concat([conn.bytes, chunk]);
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = pending.toString('latin1', 0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        pending = pending.subarray(end + 4 + length);
        conn.heads.push(head);
        const reply = answer(head, socket);
        if (reply !== undefined) socket.write(reply, 'latin1');
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      conn.closed = true;
      sockets.delete(socket);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connections,
    received: () => connections.reduce((n, c) => n + c.bytes.length, 0),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
