import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import net from 'node:net';
import { after, before } from 'node:test';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request over a keep-alive agent; resolves with the whole response. */
export function request(
  port: number,
  opts: {
    path?: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    agent?: http.Agent;
    /** Fails the request, naming it, when no whole answer came within this many ms. */
    timeoutMs?: number;
    /** The client's own address (another of 127.0.0.0/8 stands for another client). */
    localAddress?: string;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: opts.path ?? '/',
        method: opts.method ?? 'GET',
        headers: opts.headers,
        agent: opts.agent,
        ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.timeoutMs !== undefined) {
      const ms = opts.timeoutMs;
      req.setTimeout(ms, () => req.destroy(new Error(`no answer to ${req.method} ${req.path} within ${ms} ms`)));
    }
    req.end(opts.body);
  });
}

/** Writes raw bytes to a server and collects everything it answers until it closes (or 2 s). */
export function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let data = '';
    socket.on('data', (c) => (data += c.toString()));
    const done = () => resolve(data);
    socket.on('close', done);
    socket.on('error', done);
    setTimeout(() => socket.destroy(), 2000).unref();
  });
}

export interface TestUpstream {
  name: string;
  port: number;
  url: string;
  /** Requests that reached this upstream (health checks excluded). */
  received: number;
  /** The last request's headers and body, for /echo assertions. */
  last?: { method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[]; body: string };
  close(): Promise<void>;
}

/**
 * A real upstream on 127.0.0.1: answers with its name in `x-app-version`, echoes what it
 * got on /echo, streams on /stream, and speaks the WebSocket handshake plus echo on /ws.
 */
export async function startUpstream(name: string): Promise<TestUpstream> {
  const sockets = new Set<Socket>();
  const up: TestUpstream = { name, port: 0, url: '', received: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') return void res.end('ok');
    up.received++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      up.last = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      };
      if (req.url?.startsWith('/status/')) {
        res.writeHead(Number(req.url.slice(8)), { 'x-app-version': name });
        return void res.end();
      }
      if (req.url === '/hop') {
        res.writeHead(200, {
          'x-app-version': name,
          connection: 'keep-alive, x-secret',
          'x-secret': 'hop',
          'keep-alive': 'timeout=5',
          'x-kept': 'yes',
        });
        return void res.end('hop');
      }
      res.writeHead(200, { 'x-app-version': name, 'content-type': 'text/plain' });
      res.end(req.url === '/echo' ? JSON.stringify({ method: req.method, headers: req.headers, body }) : name);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req, socket: Socket) => {
    up.received++;
    const key = req.headers['sec-websocket-key'] ?? '';
    const accept = createHash('sha1')
      .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
      .digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-App-Version: ${name}\r\n\r\n`,
    );
    // Echo each masked client text frame back unmasked, prefixed with this upstream's name.
    socket.on('end', () => socket.end());
    socket.on('data', (frame: Buffer) => {
      const text = unmaskFrame(frame);
      socket.write(textFrame(`${name}:${text}`));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  up.port = (server.address() as AddressInfo).port;
  up.url = `http://127.0.0.1:${up.port}`;
  up.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return up;
}

/** A single unfragmented text frame as a server sends it (unmasked, payload < 126 bytes). */
export function textFrame(text: string, mask?: Buffer): Buffer {
  const payload = Buffer.from(text);
  if (!mask) return Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

export function unmaskFrame(frame: Buffer): string {
  const len = frame[1]! & 0x7f;
  if (frame[1]! & 0x80) {
    const mask = frame.subarray(2, 6);
    return Buffer.from(frame.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]!)).toString();
  }
  return frame.subarray(2, 2 + len).toString();
}

/**
 * A webhook receiver on 127.0.0.1 that keeps what it is sent and answers each request
 * with the next status in `statuses` (200 once they run out).
 */
export async function webhookReceiver(statuses: number[] = []) {
  const got: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(statuses.shift() ?? 200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    got,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A stable and a canary upstream for the whole test file: started before its tests, closed after. */
export function suiteUpstreams(): { stable: TestUpstream; canary: TestUpstream } {
  const ups = {} as { stable: TestUpstream; canary: TestUpstream };
  before(async () => {
    [ups.stable, ups.canary] = await Promise.all([startUpstream('stable'), startUpstream('canary')]);
  });
  after(() => Promise.all([ups.stable.close(), ups.canary.close()]));
  return ups;
}
