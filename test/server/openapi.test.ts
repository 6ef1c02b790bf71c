/**
 * The OpenAPI document, without a server: every route of the table is in it and nothing
 * else, and it is a well-formed OpenAPI 3.1 document (no JSON Schema validator is
 * installed, so its structure is checked here and answers against the zod schemas it was
 * made from, in openapi-conformance.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiRoutes } from '../../src/server/api.js';
import { openApiDocument, problemStatuses } from '../../src/server/openapi.js';
import { conformance } from '../helpers/openapi-conformance.js';

// The document needs the table only; no handler runs.
const routes = apiRoutes({} as never, {} as never, {} as never, () => {}, {} as never);
const doc = openApiDocument(routes) as {
  openapi: string;
  info: { title: string; version: string };
  security: unknown[];
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components: Record<string, Record<string, unknown>>;
};
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

describe('OpenAPI document', () => {
  it('has every route of the table, and only those', () => {
    const inTable = routes.map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`).sort();
    const inDoc = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    assert.deepEqual(inDoc, inTable);
    assert.ok(inDoc.includes('GET /api/openapi.json'));
    assert.ok(inDoc.includes('DELETE /api/v1/rollouts/{name}'));
    assert.ok(inDoc.includes('POST /api/v1/rollouts/{name}/weight'));
  });

  it('is OpenAPI 3.1 in structure: path parameters declared, responses keyed by status, references that resolve', () => {
    assert.match(doc.openapi, /^3\.1\.\d+$/);
    assert.ok(doc.info.title && doc.info.version);
    assert.deepEqual(doc.components.securitySchemes, {
      bearer: {
        type: 'http',
        scheme: 'bearer',
        description:
          'a token with a role (viewer, operator or admin): `kanari up` writes an admin one to <state>/api-token, `kanari token create` makes others',
      },
      // Its description is the document's to word; what a client needs to send it is pinned.
      session: {
        ...(doc.components.securitySchemes!.session as object),
        type: 'apiKey',
        in: 'cookie',
        name: 'kanari_session',
      },
    });
    const ids = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      assert.match(path, /^\//);
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method} ${path}`;
        assert.ok(METHODS.includes(method), where);
        const id = op.operationId as string;
        assert.ok(!ids.has(id), `${where}: operationId ${id} twice`);
        ids.add(id);
        const params = (op.parameters ?? []) as { name: string; in: string; required?: boolean; schema: unknown }[];
        const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        assert.deepEqual(
          params.filter((p) => p.in === 'path').map((p) => p.name),
          templated,
          `${where}: path parameters`,
        );
        for (const p of params) {
          assert.ok(['path', 'query', 'header', 'cookie'].includes(p.in), where);
          if (p.in === 'path') assert.equal(p.required, true, `${where}: ${p.name} must be required`);
          assert.equal(typeof p.schema, 'object', where);
        }
        const responses = op.responses as Record<string, unknown>;
        assert.ok(Object.keys(responses).length > 0, where);
        for (const status of Object.keys(responses)) assert.match(status, /^[1-5]\d\d$/, where);
        assert.ok(
          Object.keys(responses).some((s) => /^[23]/.test(s)),
          `${where}: a success answer`,
        );
      }
    }
    for (const ref of refs(doc)) assert.ok(resolve(ref) !== undefined, `${ref} does not resolve`);
  });

  it('declares the problems each route can answer: the token, bodies too large, of the wrong type or shape', () => {
    const op = (method: string, path: string) => doc.paths[path]![method]!.responses as Record<string, unknown>;
    assert.deepEqual(Object.keys(op('post', '/api/v1/rollouts/{name}/weight')).sort(), [
      '200',
      '400',
      '401',
      '403',
      '404',
      '409',
      '413',
      '415',
      '500',
    ]);
    assert.deepEqual(Object.keys(op('get', '/healthz')).sort(), ['200', '500']);
    assert.deepEqual(doc.paths['/api/openapi.json']!.get!.security, [], 'the document is public');
    assert.deepEqual(doc.security, [{ bearer: [] }, { session: [] }]);
    // A session cookie without its CSRF token is refused even a viewer's POST.
    assert.ok(Object.keys(op('post', '/auth/sign-out')).includes('403'));
    assert.ok(!Object.keys(op('get', '/auth/session')).includes('403'));
    assert.equal((op('post', '/auth/sign-in')['204'] as { content?: unknown }).content, undefined, 'no body');
    for (const r of routes) if (r.body) assert.ok(problemStatuses(r).includes(413));
  });

  it('gives request bodies as clients send them: a field with a default may be left out', () => {
    const deploy = doc.paths['/api/v1/rollouts/{name}/deploy']!.post!.requestBody as {
      content: { 'application/json': { schema: { required: string[]; additionalProperties: boolean } } };
    };
    const schema = deploy.content['application/json'].schema;
    assert.deepEqual(schema.required, ['version']);
    assert.equal(schema.additionalProperties, false);
  });
});

describe('the conformance check the API tests run', () => {
  const check = conformance(doc, routes);
  const reply = (status: number, body: unknown, type = 'application/json') => ({
    status,
    headers: { 'content-type': type },
    body: JSON.stringify(body),
  });
  const gone = { type: 'about:blank', title: 'Not Found', status: 404, detail: 'no' };

  it('passes an exchange the document describes', () => {
    check({ method: 'GET', path: '/healthz', reply: reply(200, { ok: true, pid: 1 }) });
    check({ method: 'GET', path: '/api/v1/rollouts/x', reply: reply(404, gone, 'application/problem+json') });
  });

  it('fails an answer with an undeclared member, status or query parameter, and an error that is not a problem', () => {
    const fails = (e: Parameters<typeof check>[0], why: RegExp) => assert.throws(() => check(e), why);
    fails({ method: 'GET', path: '/healthz', reply: reply(200, { ok: true, pid: 1, extra: 1 }) }, /members the schema/);
    fails({ method: 'GET', path: '/healthz', reply: reply(404, gone, 'application/problem+json') }, /declare 404/);
    fails({ method: 'GET', path: '/api/v1/rollouts?x=1', reply: reply(200, { rollouts: [] }) }, /parameter x/);
    fails({ method: 'GET', path: '/api/v1/rollouts/x', reply: reply(404, gone) }, /problem\+json/);
    fails({ method: 'GET', path: '/api/v1/rollouts', reply: reply(200, { rollouts: [{}] }) }, /does not match/);
  });
});

function refs(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(refs);
  if (node === null || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([k, v]) => (k === '$ref' && typeof v === 'string' ? [v] : refs(v)));
}

function resolve(ref: string): unknown {
  assert.match(ref, /^#\//);
  return ref
    .slice(2)
    .split('/')
    .reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], doc);
}
