/**
 * The controller's REST API: JSON over HTTP (or HTTPS), a bearer token on everything but
 * health and metrics, errors as `application/problem+json`. Its routes, as data:
 */
import http from 'node:http';
import https from 'node:https';
import { z } from 'zod';
import { versionLabel } from '../config/schemas/rollout.js';
import { bearerChecker, HttpError } from '../shared/http.js';
import { bundleFiles } from './bundle.js';
import { COMMANDS, type Controller } from './controller.js';
import { EVENT_STREAM_DEFAULTS, EventStream, type EventStreamOptions } from './events.js';
import { renderControllerMetrics } from './metrics.js';
import { seriesRange } from './series.js';
import { dispatcher, ok, route, type Route } from './routes.js';

const MAX_BODY_BYTES = 4 * 1024 * 1024;

const applyBody = z.strictObject({ file: z.string().min(1), text: z.string(), bundle: bundleFiles.optional() });
const deployBody = z.strictObject({ version: versionLabel, set: z.record(z.string(), z.string()).default({}) });
const commandBody = z.strictObject({ full: z.boolean().optional(), reason: z.string().max(500).optional() });
const shutdownBody = z.strictObject({ all: z.boolean().default(false) });

export function apiRoutes(controller: Controller, events: EventStream, onShutdown: (all: boolean) => void): Route[] {
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
    route({ method: 'GET', path: '/api/v1/rollouts', handle: () => ok({ rollouts: controller.views() }) }),
    // {file, text}: the controller reads what the file references from its own disk; with
    // `bundle`, only from the bundle (a controller on another host).
    route({
      method: 'POST',
      path: '/api/v1/apply',
      body: applyBody,
      handle: async ({ body }) => ok({ applied: await controller.apply(body.file, body.text, body.bundle) }),
    }),
    route({
      method: 'GET',
      path: '/api/v1/events',
      handle: ({ req, res, query }) => events.serve(req, res, query),
    }),
    route({
      method: 'POST',
      path: '/api/v1/shutdown',
      body: shutdownBody,
      handle: ({ body }) => {
        setImmediate(() => onShutdown(body.all));
        return ok({ stopping: true, all: body.all }, 202);
      },
    }),
    route({ method: 'GET', path: '/api/v1/rollouts/:name', handle: ({ params }) => ok(controller.view(params.name!)) }),
    route({
      method: 'GET',
      path: '/api/v1/rollouts/:name/history',
      handle: ({ params, query }) => {
        const limit = Number(query.get('limit') ?? 1000);
        if (!Number.isInteger(limit) || limit < 1)
          throw new HttpError(400, `limit must be a positive integer (got ${query.get('limit')})`);
        return ok({ events: controller.history(params.name!, { limit }) });
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/rollouts/:name/series',
      handle: async ({ params, query }) => ok(await controller.series(params.name!, seriesRange(query, Date.now()))),
    }),
    route({
      method: 'GET',
      path: '/api/v1/rollouts/:name/analyses/:id',
      handle: ({ params }) => ok(controller.report(params.name!, params.id!)),
    }),
    route({
      method: 'POST',
      path: '/api/v1/rollouts/:name/deploy',
      body: deployBody,
      handle: async ({ params, body }) => ok(await controller.deploy(params.name!, body.version, body.set)),
    }),
    ...COMMANDS.map((command) =>
      route({
        method: 'POST',
        path: `/api/v1/rollouts/:name/${command}`,
        body: commandBody,
        handle: async ({ params, body }) => ok(await controller.command(params.name!, command, body)),
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

export function createApiServer(
  controller: Controller,
  token: string,
  onShutdown: (all: boolean) => void,
  options: ApiServerOptions = {},
): http.Server | https.Server {
  const log = options.log ?? ((line: string) => console.error(`kanari up: ${line}`));
  const events = new EventStream(controller.store, { ...EVENT_STREAM_DEFAULTS, ...options.events });
  const handle = dispatcher(apiRoutes(controller, events, onShutdown), {
    authorized: bearerChecker(token),
    maxBodyBytes: MAX_BODY_BYTES,
    log,
  });
  const server = options.tls ? https.createServer({ ...options.tls }, handle) : http.createServer(handle);
  server.on('close', () => events.close());
  return server;
}
