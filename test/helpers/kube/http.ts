/**
 * The HTTP edges of the test API server: discovery documents, which resource a path names,
 * bodies read under the real server's 3 MiB limit, and answers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { ApiError, badRequest } from './errors.js';
import { groupDocument, resourceList, type Kinds } from './kinds.js';
import type { Target } from './writes.js';

const BODY_LIMIT = 3 * 1024 * 1024;
/** Deeper bodies are refused before anything walks them recursively (the real server's JSON limit is 10000). */
const MAX_DEPTH = 1000;

/** Discovery and other fixed documents: the document, null for a path under them that is not served, undefined for any other path. */
export function discovery(kinds: Kinds, path: string, host: string): unknown {
  if (path === '/version')
    return { major: '1', minor: '20', gitVersion: 'v1.20.0-kanari-test', platform: 'linux/amd64' };
  if (path === '/healthz' || path === '/readyz' || path === '/livez') return 'ok';
  if (path === '/api')
    return {
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: host }],
    };
  if (path === '/api/v1') return resourceList(kinds, '', 'v1');
  if (path === '/apis')
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...kinds.groups()].map(([g, v]) => groupDocument(g, v)),
    };
  const m = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(path);
  if (!m) return undefined;
  const versions = kinds.groups().get(m[1]!);
  if (!versions) return null;
  if (!m[2]) return groupDocument(m[1]!, versions);
  return resourceList(kinds, m[1]!, m[2]) ?? null;
}

/** The resource a path names: `/api/v1/namespaces/<ns>/<plural>/<name>/<subresource>` and the like. */
export function route(kinds: Kinds, path: string): Target | undefined {
  const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/(.*)$/.exec(path);
  if (!m) return undefined;
  const [group, version] = m[1] ? ['', 'v1'] : [m[2]!, m[3]!];
  const parts = m[4]!.split('/').map(decodeURIComponent);
  let namespace: string | undefined;
  if (parts[0] === 'namespaces' && parts.length >= 3 && !(parts.length === 3 && parts[2] === 'status')) {
    namespace = parts[1];
    parts.splice(0, 2);
  }
  const [plural, name, subresource, ...rest] = parts;
  const kind = kinds.byResource(group, version, plural ?? '');
  const served =
    subresource === undefined || (subresource === 'status' && kind?.status) || (subresource === 'scale' && kind?.scale);
  if (!kind || rest.length > 0 || !served) return undefined;
  if (kind.namespaced === (namespace === undefined) && !(kind.namespaced && name === undefined)) return undefined;
  return {
    kind,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(subresource ? { subresource } : {}),
  };
}

export const contentType = (req: IncomingMessage): string =>
  (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();

export function send(res: ServerResponse, code: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': typeof body === 'string' ? 'text/plain' : 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function notFoundPath(path: string): Record<string, unknown> {
  return new ApiError(404, 'NotFound', `the server could not find the requested resource (${path})`).status();
}

/** kubectl asks for the OpenAPI document to validate with; an empty one (it knows no kind) makes it skip validation. */
export function openApi(req: IncomingMessage, res: ServerResponse): void {
  if ((req.headers.accept ?? '').includes('protobuf')) {
    res.writeHead(200, {
      'Content-Type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf',
      'Content-Length': 0,
    });
    res.end();
  } else
    send(res, 200, { swagger: '2.0', info: { title: 'Kubernetes', version: 'v1.20.0' }, paths: {}, definitions: {} });
}

export async function readBody(req: IncomingMessage, format: 'json' | 'yaml'): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT)
      throw new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  let body: unknown;
  try {
    body = format === 'yaml' ? parseYaml(text, { maxAliasCount: 100 }) : JSON.parse(text);
  } catch (err) {
    throw badRequest(
      `the body of the request could not be decoded as ${format.toUpperCase()}: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  if (depthOver(body, MAX_DEPTH)) throw badRequest(`the body of the request nests deeper than ${MAX_DEPTH} levels`);
  return body;
}

/** Whether a value nests deeper than `limit`, found without recursion (the body may be built to overflow the stack). */
function depthOver(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [at, depth] = stack.pop()!;
    if (typeof at !== 'object' || at === null) continue;
    if (depth >= limit) return true;
    for (const child of Object.values(at)) stack.push([child, depth + 1]);
  }
  return false;
}
