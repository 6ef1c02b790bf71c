/**
 * The controller API's routes as data, and what every request goes through on the way to
 * one: the route found (404 for no path, 405 with `Allow` for a wrong method), the bearer
 * token or session cookie checked (401), a cookie's CSRF token on anything but GET and HEAD
 * (403), its role against the route's (403), the body read under a limit
 * and validated, and any error answered as `application/problem+json` (RFC 9457).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { z } from 'zod';
import { HttpError, logInternalError, readBody, send, sendText } from '../shared/http.js';
import { ControllerError } from './controller-error.js';
import { checkCsrf } from './sessions.js';
import { roleAllows, type Principal, type Role } from './tokens.js';

/** What a route's handler is given: its path parameters (decoded), the query and the validated body. */
export interface RouteRequest<B> {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  body: B;
  /** Who asked (undefined on a public route): the actor the event log records. */
  principal?: Principal;
}

/**
 * A JSON answer, text of its own type, or no body with headers (a redirect, a cookie set); a
 * handler that answers by itself (a stream) returns nothing.
 */
export type Answer =
  | { status: number; json: unknown }
  | { status: number; text: string; contentType: string }
  | { status: number; headers: Record<string, string | string[]> };

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** Segments, each literal or `:param` (one whole segment). */
  path: string;
  /** No token needed (health and metrics). */
  public?: boolean;
  /** The least role a token needs; a route with neither this nor `public` is refused when the table is built. */
  role?: Role;
  /** Only for routes that take a body; an empty body reads as `{}`. */
  body?: z.ZodType;
  /** What it does, in a line (the OpenAPI document's summary). */
  summary?: string;
  /** Query parameters: each one present is validated before the handler runs (the handler reads them as text). */
  query?: Record<string, { schema: z.ZodType; description: string }>;
  /** The success answer: its status (200 unless said) and its JSON, or the content type it has instead. */
  response?: { status?: number; description: string; json?: z.ZodType; contentType?: string; empty?: true };
  /** What the handler itself may answer besides success (404 no such thing, 409 refused now, 503 too busy). */
  errors?: readonly (401 | 404 | 409 | 429 | 503)[];
  handle(r: RouteRequest<unknown>): Promise<Answer | void> | Answer | void;
}

/** A route whose handler sees its body typed by its schema. */
export function route<S extends z.ZodType>(
  r: Omit<Route, 'body' | 'handle'> & {
    body: S;
    handle(r: RouteRequest<z.output<S>>): Promise<Answer | void> | Answer | void;
  },
): Route;
export function route(r: Omit<Route, 'body'> & { body?: undefined }): Route;
export function route(r: Route): Route {
  return r;
}

export const ok = (json: unknown, status = 200): Answer => ({ status, json });

const PROBLEM_JSON = 'application/problem+json';
/** The one problem type with its own members (`issues`): a file that is not valid, each issue located. */
export const INVALID_CONFIG = 'https://kanari.dev/problems/invalid-config';

export interface Dispatcher {
  (req: IncomingMessage, res: ServerResponse): void;
}

export function dispatcher(
  routes: readonly Route[],
  options: {
    /** Who the request's token or session cookie names; throws (or rejects with) a 401 HttpError for neither or a bad one. */
    authenticate: (req: IncomingMessage) => Principal | Promise<Principal>;
    maxBodyBytes: number;
    log: (line: string) => void;
    /** Asked first for a path no route has (the dashboard's files); true when it answered. */
    fallback?: (req: IncomingMessage, res: ServerResponse) => boolean;
  },
): Dispatcher {
  for (const r of routes)
    if ((r.role === undefined) === (r.public !== true))
      throw new Error(
        `route ${r.method} ${r.path} must declare either a role (viewer, operator, admin) or public: true`,
      );
  const compiled = routes.map((r) => ({ route: r, segments: r.path.split('/').slice(1) }));
  return (req, res) => {
    void (async () => {
      const url = requestUrl(req.url);
      const parts = url.pathname.split('/').slice(1);
      const matching = compiled.flatMap((c) => {
        const params = match(c.segments, parts);
        return params ? [{ route: c.route, params }] : [];
      });
      if (matching.length === 0 && options.fallback?.(req, res)) return;
      const found = matching.find((m) => m.route.method === req.method);
      const principal = found?.route.public ? undefined : await options.authenticate(req);
      if (matching.length === 0) throw new HttpError(404, notFound(url.pathname, routes));
      if (!found) {
        const allow = [...new Set(matching.map((m) => m.route.method))].join(', ');
        throw new HttpError(405, `${req.method} is not allowed here (allowed: ${allow})`, {}, { allow });
      }
      // A cookie is sent by the browser whoever made the request; only a page of this origin can read the token.
      if (principal?.session && req.method !== 'GET' && req.method !== 'HEAD') checkCsrf(req, principal.session);
      if (principal) checkRole(principal, found.route.role!);
      // A shared cache may keep an answer to a request with a cookie (not one with Authorization): it names who asked.
      if (principal) res.setHeader('cache-control', 'no-store');
      const params = Object.fromEntries(Object.entries(found.params).map(([k, v]) => [k, decodePart(v)]));
      checkQuery(url.searchParams, found.route.query ?? {});
      const body = found.route.body ? await readJson(req, found.route.body, options.maxBodyBytes) : undefined;
      const answer = await found.route.handle({
        req,
        res,
        params,
        query: url.searchParams,
        body,
        ...(principal ? { principal } : {}),
      });
      if (answer && 'text' in answer) sendText(res, answer.status, answer.text, answer.contentType);
      else if (answer && 'headers' in answer) res.writeHead(answer.status, answer.headers).end();
      else if (answer) send(res, answer.status, answer.json);
    })().catch((err: unknown) => sendProblem(req, res, err, options.log));
  };
}

/** Answers `err` as a problem: its status and one-line detail; a bug only as an id, under which it is logged. */
export function sendProblem(
  req: IncomingMessage,
  res: ServerResponse,
  err: unknown,
  log: (line: string) => void,
): void {
  if (res.headersSent) {
    // A stream that failed midway cannot change its status; it ends, and the error is kept.
    logInternalError(req, err, log);
    res.destroy();
    return;
  }
  const known = err instanceof HttpError || err instanceof ControllerError;
  const status = known ? err.status : 500;
  const problem: Record<string, unknown> = { type: 'about:blank', title: STATUS_CODES[status], status };
  if (!known) {
    const id = logInternalError(req, err, log);
    Object.assign(problem, { detail: `internal error (logged as ${id})`, id });
  } else if (err instanceof ControllerError && err.issues) {
    Object.assign(problem, { type: INVALID_CONFIG, title: 'The file is not valid', detail: err.message });
    problem.issues = err.issues;
  } else Object.assign(problem, err instanceof HttpError ? err.extra : {}, { detail: err.message });
  const headers = { 'content-type': PROBLEM_JSON, ...(err instanceof HttpError ? err.headers : {}) };
  send(res, status, problem, headers);
}

/** A 403 naming the role needed and the one the token has (RFC 6750's insufficient_scope). */
export function checkRole(principal: Principal, needs: Role, what = 'this'): void {
  if (roleAllows(principal.role, needs)) return;
  throw new HttpError(
    403,
    `${what} needs the ${needs} role; ${principal.session ? 'the session of' : 'the token'} ${principal.name} has ${principal.role}`,
    { role: needs },
    { 'www-authenticate': 'Bearer error="insufficient_scope"' },
  );
}

function match(pattern: readonly string[], parts: readonly string[]): Record<string, string> | undefined {
  if (pattern.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, segment] of pattern.entries()) {
    const part = parts[i]!;
    if (segment.startsWith(':')) {
      if (part === '') return undefined;
      params[segment.slice(1)] = part;
    } else if (segment !== part) return undefined;
  }
  return params;
}

function notFound(path: string, routes: readonly Route[]): string {
  const rollout = /^\/api\/v1\/rollouts\/[^/]+\//.test(path);
  if (!rollout) return `no such resource ${path} (see GET /api/v1/rollouts)`;
  const subs = routes
    .map((r) =>
      /^\/api\/v1\/rollouts\/:name\/(.+)$/.exec(r.path)?.[1]?.replace(/:(\w+)/g, (_, p: string) => p.toUpperCase()),
    )
    .filter((s) => s !== undefined);
  return `no such resource ${path} (rollout resources: ${subs.join(', ')})`;
}

function checkQuery(query: URLSearchParams, declared: NonNullable<Route['query']>): void {
  for (const [name, { schema }] of Object.entries(declared)) {
    const value = query.get(name);
    if (value === null) continue;
    const parsed = schema.safeParse(value);
    if (!parsed.success)
      throw new HttpError(
        400,
        `query parameter ${name}: ${parsed.error.issues[0]!.message} (got ${JSON.stringify(value.slice(0, 100))})`,
      );
  }
}

/** `application/json` or a `+json` type, with or without parameters (`; charset=utf-8`). */
const JSON_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;

async function readJson<S extends z.ZodType>(req: IncomingMessage, schema: S, maxBytes: number): Promise<z.output<S>> {
  const sent = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  const type = req.headers['content-type'];
  // A form or text body is refused by its type, not parsed as JSON: a browser posts those cross-site without asking.
  if (sent && !JSON_TYPE.test(type ?? ''))
    throw new HttpError(
      415,
      `the request body must have content-type application/json (got ${type === undefined ? 'none' : JSON.stringify(type.slice(0, 100))})`,
      {},
      { connection: 'close' },
    );
  const text = await readBody(req, maxBytes, 'request body');
  let json: unknown;
  try {
    json = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw new HttpError(400, 'the request body is not JSON');
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success)
    throw new HttpError(400, parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  return parsed.data;
}

/**
 * The request target as a URL, resolved as routing sees it (dot segments, backslashes, an
 * absolute target); Node passes on targets (`//host:99999`) that URL cannot read.
 */
export function requestUrl(target = '/'): URL {
  try {
    return new URL(target, 'http://localhost');
  } catch {
    throw new HttpError(400, `the request target is not a valid path (${JSON.stringify(target.slice(0, 200))})`);
  }
}

function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new HttpError(400, `the path is not valid percent-encoded UTF-8 (${JSON.stringify(part.slice(0, 200))})`);
  }
}
