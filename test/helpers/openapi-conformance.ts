/**
 * Checks one exchange with the controller API against its OpenAPI document: the request
 * names an operation with the query parameters it declares, a body the server took is
 * valid under the route's schema, and the answer has a status the operation declares and
 * the body its schema says (a problem for errors). Tests route their calls through it, so
 * every request they make is a conformance check too.
 */
import assert from 'node:assert/strict';
import type { z } from 'zod';
import { apiRoutes } from '../../src/server/api.js';
import * as answers from '../../src/server/api-schemas.js';
import type { Route } from '../../src/server/routes.js';
import { SignInCodes } from '../../src/server/sessions.js';
import { request, type Reply } from './http.js';

type Operation = { parameters?: { name: string; in: string }[]; responses: Record<string, unknown> };
type Doc = { paths: Record<string, Record<string, Operation>> };

export interface Exchange {
  method: string;
  path: string;
  body?: string | undefined;
  reply: Reply;
}

export function conformance(doc: unknown, routes: readonly Route[]): (e: Exchange) => void {
  const paths = (doc as Doc).paths;
  return ({ method, path, body, reply }) => {
    const url = new URL(path, 'http://localhost');
    const template = Object.keys(paths).find((t) => matches(t, url.pathname));
    const operation = template ? paths[template]![method.toLowerCase()] : undefined;
    const where = `${method} ${path} → ${reply.status}`;
    if (!operation) {
      // Only the dispatcher's refusals answer what the document does not describe.
      assert.ok([401, 404, 405].includes(reply.status), `${where}: no operation in the document`);
      return problemBody(reply, where);
    }
    const declared = new Set((operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name));
    for (const name of url.searchParams.keys())
      assert.ok(declared.has(name), `${where}: query parameter ${name} is not in the document`);
    assert.ok(
      Object.hasOwn(operation.responses, String(reply.status)),
      `${where}: the document does not declare ${reply.status} here (it has ${Object.keys(operation.responses).join(', ')})`,
    );
    const route = routes.find((r) => r.method === method && r.path.replace(/:(\w+)/g, '{$1}') === template)!;
    if (reply.status >= 400) return problemBody(reply, where);
    if (route.body && body) route.body.parse(JSON.parse(body));
    const json = route.response?.json;
    if (!json) return;
    assert.match(String(reply.headers['content-type']), /^application\/json/, where);
    exactly(json, JSON.parse(reply.body), where);
  };
}

/** The check for a controller API served on `port`: its own document, against the route table (no handler runs). */
export async function servedConformance(port: number): Promise<(e: Exchange) => void> {
  const doc = await request(port, { path: '/api/openapi.json' });
  return conformance(
    JSON.parse(doc.body),
    // The routes of kanari up, which prints sign-in links.
    apiRoutes({} as never, {} as never, {} as never, () => {}, { codes: new SignInCodes() } as never),
  );
}

function problemBody(reply: Reply, where: string): void {
  assert.equal(reply.headers['content-type'], 'application/problem+json', where);
  exactly(answers.problem, JSON.parse(reply.body), where);
}

/** Valid, and with no member the schema does not declare (a report's judge details are its own). */
function exactly(schema: z.ZodType, json: unknown, where: string): void {
  const parsed = schema.safeParse(json);
  assert.ok(parsed.success, `${where}: the answer does not match its schema: ${parsed.error?.message}`);
  if (schema !== answers.analysisReport) assert.deepEqual(parsed.data, json, `${where}: members the schema lacks`);
}

function matches(template: string, path: string): boolean {
  const a = template.split('/');
  const b = path.split('/');
  return a.length === b.length && a.every((seg, i) => (seg.startsWith('{') ? b[i] !== '' : seg === b[i]));
}
