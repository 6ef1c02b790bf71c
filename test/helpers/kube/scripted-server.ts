/**
 * A small HTTP(S) server whose answers each test writes itself, recording what it was
 * asked: for the API client's tests, where the server misbehaves on purpose (the test API
 * server, test/helpers/kube/apiserver.ts, behaves).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The subject of the client certificate, when one was presented. */
  clientCert?: string;
}

export type Script = (req: Received, res: ServerResponse) => void;

export interface ScriptedServer {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

export interface ScriptedTls {
  cert: string;
  key: string;
  /** Ask for a client certificate signed by this CA. */
  clientCa?: string;
  /** Let clients without one in (their requests show no `clientCert`). */
  clientCertOptional?: boolean;
}

export async function startScriptedServer(script: Script, tls?: ScriptedTls): Promise<ScriptedServer> {
  const received: Received[] = [];
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const peer = (req.socket as { getPeerCertificate?: () => { subject?: { CN?: string } } }).getPeerCertificate?.();
      const entry: Received = {
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        ...(peer?.subject?.CN ? { clientCert: peer.subject.CN } : {}),
      };
      received.push(entry);
      script(entry, res);
    });
  };
  const server = tls
    ? https.createServer(
        {
          cert: tls.cert,
          key: tls.key,
          ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: !tls.clientCertOptional } : {}),
        },
        handle,
      )
    : http.createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers JSON with `status`. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A Kubernetes `Status` refusal, as the API server words one. */
export function sendStatus(res: ServerResponse, code: number, reason: string, message: string): void {
  sendJson(res, code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code });
}
