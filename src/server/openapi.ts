/**
 * The OpenAPI 3.1 document of the controller API, made from the route table itself: each
 * route's path, method, query parameters, body schema (the one the dispatcher validates
 * with) and answer schema, and the problems the dispatcher answers for it. Nothing here is
 * written twice, so the document cannot describe a route that is not served.
 */
import { z } from 'zod';
import * as answers from './api-schemas.js';
import type { Route } from './routes.js';

/** Schemas declared once under components and referred to by name. */
const NAMED: Record<string, z.ZodType> = {
  RolloutView: answers.rolloutView,
  Problem: answers.problem,
};

/** Why the dispatcher answers each problem, for every route it can happen on. */
const PROBLEMS: Record<number, string> = {
  400: 'the request is not valid (a malformed path, query parameter or body, or a body of the wrong shape); detail says which and why',
  401: 'no bearer token or session cookie, or a wrong, revoked or expired one',
  403: "the token's or session's role is below the one this needs (the problem's `role` says which), or a request with the session cookie lacks its X-CSRF-Token (`reason: csrf`)",
  404: 'no such rollout (or analysis run)',
  409: 'refused in the state the rollout is in now; detail says why and what to do',
  413: 'the body is larger than the controller reads (4 MiB)',
  415: 'the body is not application/json',
  429: 'too many sign-ins by this token in the last minute; try again after Retry-After',
  500: 'a bug: detail carries the id it was logged under, nothing else',
  503: 'too many event stream clients; try again after Retry-After',
};

const SESSION_SCHEME = {
  type: 'apiKey',
  in: 'cookie',
  name: 'kanari_session',
  description:
    'a browser session (POST /auth/sign-in, single sign-on, or the link kanari up prints), named __Host-kanari_session over TLS; anything but GET and HEAD also needs X-CSRF-Token from GET /auth/session. A bearer token, when sent too, wins',
};

export function openApiDocument(routes: readonly Route[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) (paths[r.path.replace(/:(\w+)/g, '{$1}')] ??= {})[r.method.toLowerCase()] = operation(r);
  // Only a table with the browser's sign-in takes a session cookie (the operator's has none).
  const sessions = routes.some((r) => r.path === '/auth/session');
  return {
    openapi: '3.1.1',
    info: {
      title: 'kanari controller API',
      version: 'v1',
      description:
        'What `kanari up` serves and the CLI uses. Errors are RFC 9457 problems (application/problem+json). A method a path does not take is answered 405 with Allow.',
    },
    security: [{ bearer: [] }, ...(sessions ? [{ session: [] }] : [])],
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'a token with a role (viewer, operator or admin): `kanari up` writes an admin one to <state>/api-token, `kanari token create` makes others',
        },
        ...(sessions ? { session: SESSION_SCHEME } : {}),
      },
      schemas: Object.fromEntries(Object.entries(NAMED).map(([name, schema]) => [name, jsonSchema(schema, false)])),
      responses: Object.fromEntries(
        Object.entries(PROBLEMS).map(([status, description]) => [
          `Problem${status}`,
          {
            description,
            content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
          },
        ]),
      ),
    },
  };
}

/** The problems a route can answer: the dispatcher's, by what the route takes, and its handler's own. */
export function problemStatuses(r: Route): number[] {
  const statuses = new Set<number>([...(r.errors ?? []), 500]);
  if (!r.public) statuses.add(401);
  // A viewer may call the viewer's routes; anyone else can be below a route's role (a deploy with set is an admin's),
  // and a session cookie without its CSRF token is refused anything but a GET.
  if (!r.public && (r.role !== 'viewer' || r.method !== 'GET')) statuses.add(403);
  if (r.body || r.query || r.path.includes(':')) statuses.add(400);
  if (r.path.includes('/:name')) statuses.add(404);
  if (r.body) [413, 415].forEach((s) => statuses.add(s));
  return [...statuses].sort((a, b) => a - b);
}

function operation(r: Route): Record<string, unknown> {
  const params = [...r.path.matchAll(/:(\w+)/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));
  const query = Object.entries(r.query ?? {}).map(([name, q]) => ({
    name,
    in: 'query',
    required: false,
    description: q.description,
    schema: jsonSchema(q.schema),
  }));
  const ok = r.response ?? { description: 'done' };
  const problems = Object.fromEntries(
    problemStatuses(r).map((status) => [String(status), { $ref: `#/components/responses/Problem${status}` }]),
  );
  return {
    operationId: operationId(r),
    ...(r.summary ? { summary: r.summary } : {}),
    ...(r.role ? { description: `needs the ${r.role} role`, 'x-kanari-role': r.role } : {}),
    ...(r.public ? { security: [] } : {}),
    ...(params.length + query.length ? { parameters: [...params, ...query] } : {}),
    ...(r.body
      ? { requestBody: { required: false, content: { 'application/json': { schema: jsonSchema(r.body) } } } }
      : {}),
    responses: {
      [String(ok.status ?? 200)]: {
        description: ok.description,
        ...(ok.empty
          ? {}
          : {
              content: ok.json
                ? { 'application/json': { schema: jsonSchema(ok.json) } }
                : { [ok.contentType ?? 'application/json']: {} },
            }),
      },
      ...problems,
    },
  };
}

/** `post /api/v1/rollouts/:name/promote` → `postRolloutsNamePromote`. */
function operationId(r: Route): string {
  const words = r.path
    .replace(/^\/api(\/v1)?/, '')
    .split(/[/:.-]/)
    .filter(Boolean);
  return r.method.toLowerCase() + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

/** A schema as JSON Schema 2020-12 (OpenAPI 3.1's dialect), by reference when it is a named one. */
function jsonSchema(schema: z.ZodType, byName = true): Record<string, unknown> {
  const name = byName ? Object.keys(NAMED).find((n) => NAMED[n] === schema) : undefined;
  if (name) return { $ref: `#/components/schemas/${name}` };
  // What a client sends: fields with defaults may be left out. Checks zod runs in code (refine) are not expressible.
  const { $schema: _, ...json } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
  });
  return json;
}
