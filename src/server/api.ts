/**
 * The controller's REST API: JSON over HTTP (or HTTPS), a bearer token on everything but
 * health and metrics, errors as `application/problem+json`. Its routes, as data, each with
 * the least role that may call it (docs/api.md says why each has the one it has):
 */
import http from 'node:http';
import https from 'node:https';
import { z } from 'zod';
import { versionLabel } from '../config/schemas/rollout.js';
import { HttpError } from '../shared/http.js';
import { bundleFiles } from './bundle.js';
import { COMMANDS, type Controller } from './controller.js';
import { EVENT_STREAM_DEFAULTS, EventStream, type EventStreamOptions } from './events.js';
import { renderControllerMetrics } from './metrics.js';
import { checkRole, dispatcher, ok, route, type Route } from './routes.js';
import { tokenRoutes } from './token-routes.js';
import { Tokens } from './tokens.js';

const MAX_BODY_BYTES = 4 * 1024 * 1024;

const applyBody = z.strictObject({ file: z.string().min(1), text: z.string(), bundle: bundleFiles.optional() });
const deployBody = z.strictObject({ version: versionLabel, set: z.record(z.string(), z.string()).default({}) });
const commandBody = z.strictObject({ full: z.boolean().optional(), reason: z.string().max(500).optional() });
const shutdownBody = z.strictObject({ all: z.boolean().default(false) });

export function apiRoutes(
  controller: Controller,
  events: EventStream,
  tokens: Tokens,
  onShutdown: (all: boolean, actor: string) => void,
): Route[] {
  return [
    route({ method: 'GET', path: '/healthz', public: true, handle: () => ok({ ok: true, pid: process.pid }) }),
    route({
      method: 'GET',
      path: '/metrics',
      public: true,
      handle: () => ({
        status: 200,
        contentType: 'text/plain; version=0.0.4; charset=utf-8',
        text: renderControllerMetrics(controller.views(), controller.store, controller.lags(), controller.roundLag),
      }),
    }),
    route({
      method: 'GET',
      path: '/api/v1/rollouts',
      role: 'viewer',
      handle: () => ok({ rollouts: controller.views() }),
    }),
    // {file, text}: the controller reads what the file references from its own disk; with
    // `bundle`, only from the bundle (a controller on another host). Admin: a file says
    // which commands run on this host, which ports it takes and which URLs it calls.
    route({
      method: 'POST',
      path: '/api/v1/apply',
      role: 'admin',
      body: applyBody,
      handle: async ({ body, principal }) =>
        ok({ applied: await controller.apply(body.file, body.text, body.bundle, principal!.name) }),
    }),
    route({
      method: 'GET',
      path: '/api/v1/events',
      role: 'viewer',
      handle: ({ req, res, query, principal }) => {
        // A stream outlives the request that opened it; it ends when its token is revoked or expires.
        const unwatch = tokens.whileValid(principal!, () => res.destroy());
        res.on('close', unwatch);
        return events.serve(req, res, query);
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/shutdown',
      role: 'admin',
      body: shutdownBody,
      handle: ({ body, principal }) => {
        setImmediate(() => onShutdown(body.all, principal!.name));
        return ok({ stopping: true, all: body.all }, 202);
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/whoami',
      role: 'viewer',
      handle: ({ principal }) => ok(principal),
    }),
    ...tokenRoutes(tokens),
    route({
      method: 'GET',
      path: '/api/v1/rollouts/:name',
      role: 'viewer',
      handle: ({ params }) => ok(controller.view(params.name!)),
    }),
    route({
      method: 'GET',
      path: '/api/v1/rollouts/:name/history',
      role: 'viewer',
      handle: ({ params, query }) => {
        const limit = Number(query.get('limit') ?? 1000);
        if (!Number.isInteger(limit) || limit < 1)
          throw new HttpError(400, `limit must be a positive integer (got ${query.get('limit')})`);
        return ok({ events: controller.history(params.name!, { limit }) });
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/rollouts/:name/analyses/:id',
      role: 'viewer',
      handle: ({ params }) => ok(controller.report(params.name!, params.id!)),
    }),
    route({
      method: 'POST',
      path: '/api/v1/rollouts/:name/deploy',
      role: 'operator',
      body: deployBody,
      handle: async ({ params, body, principal }) => {
        // `set` can change the canary's command: running commands on this host is an admin's.
        if (Object.keys(body.set).length > 0) checkRole(principal!, 'admin', 'a deploy with set');
        return ok(await controller.deploy(params.name!, body.version, body.set, principal!.name));
      },
    }),
    ...COMMANDS.map((command) =>
      route({
        method: 'POST',
        path: `/api/v1/rollouts/:name/${command}`,
        role: 'operator',
        body: commandBody,
        handle: async ({ params, body, principal }) =>
          ok(await controller.command(params.name!, command, body, principal!.name)),
      }),
    ),
  ];
}

export interface ApiServerOptions {
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  log?: (line: string) => void;
  events?: Partial<EventStreamOptions>;
}

/**
 * The API of `controller`, with `localToken` (what `kanari up` keeps in `<state>/api-token`)
 * as an admin token beside those the store keeps.
 */
export function createApiServer(
  controller: Controller,
  localToken: string,
  onShutdown: (all: boolean, actor: string) => void,
  options: ApiServerOptions = {},
): http.Server | https.Server {
  const log = options.log ?? ((line: string) => console.error(`kanari up: ${line}`));
  const events = new EventStream(controller.store, { ...EVENT_STREAM_DEFAULTS, ...options.events });
  const tokens = new Tokens(controller.store.tokens);
  if (tokens.localToken(localToken) !== localToken)
    throw new Error('the local token is not one the API can take (16 to 256 characters of base64url)');
  const handle = dispatcher(apiRoutes(controller, events, tokens, onShutdown), {
    authenticate: (req) => tokens.authenticate(req.headers.authorization),
    maxBodyBytes: MAX_BODY_BYTES,
    log,
  });
  const server = options.tls ? https.createServer({ ...options.tls }, handle) : http.createServer(handle);
  server.on('close', () => events.close());
  return server;
}
