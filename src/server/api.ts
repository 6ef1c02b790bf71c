/**
 * The controller's REST API: JSON over HTTP (or HTTPS), a bearer token on everything but
 * health and metrics, errors as `application/problem+json`. Its routes, as data:
 */
import http from 'node:http';
import https from 'node:https';
import { z } from 'zod';
import { versionLabel } from '../config/schemas/rollout.js';
import { percent } from '../config/schemas/table.js';
import { bearerChecker } from '../shared/http.js';
import { bundleFiles } from './bundle.js';
import { COMMANDS, type Controller } from './controller.js';
import { EVENT_STREAM_DEFAULTS, EventStream, type EventStreamOptions } from './events.js';
import * as answers from './api-schemas.js';
import { renderControllerMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { SERIES_QUERY, seriesRange } from './series.js';
import { dispatcher, ok, route, type Route } from './routes.js';

const MAX_BODY_BYTES = 4 * 1024 * 1024;

const applyBody = z.strictObject({ file: z.string().min(1), text: z.string(), bundle: bundleFiles.optional() });
const deployBody = z.strictObject({ version: versionLabel, set: z.record(z.string(), z.string()).default({}) });
const commandBody = z.strictObject({ full: z.boolean().optional(), reason: z.string().max(500).optional() });
const setWeightBody = z.strictObject({ weight: percent, reason: z.string().max(500).optional() });
const shutdownBody = z.strictObject({ all: z.boolean().default(false) });

/** What a control answers: the rollout as it is now, or a 409 saying why it was refused. */
const CONTROL = {
  response: { description: 'the rollout, as it is now', json: answers.rolloutView },
  errors: [409],
} as const;

export function apiRoutes(controller: Controller, events: EventStream, onShutdown: (all: boolean) => void): Route[] {
  const routes = [
    route({
      method: 'GET',
      path: '/healthz',
      public: true,
      summary: 'whether the controller answers, and its pid',
      response: { description: 'it answers', json: answers.healthz },
      handle: () => ok({ ok: true, pid: process.pid }),
    }),
    route({
      method: 'GET',
      path: '/metrics',
      public: true,
      summary: "the controller's and its rollouts' metrics, for Prometheus",
      response: { description: 'Prometheus text format', contentType: 'text/plain; version=0.0.4' },
      handle: () => ({
        status: 200,
        contentType: 'text/plain; version=0.0.4; charset=utf-8',
        text: renderControllerMetrics(controller.views(), controller.store, controller.lags(), controller.roundLag),
      }),
    }),
    route({
      method: 'GET',
      path: '/api/v1/rollouts',
      summary: 'every rollout, as `kanari status` draws it',
      response: { description: 'the rollouts, by name', json: answers.rolloutList },
      handle: () => ok({ rollouts: controller.views() }),
    }),
    // {file, text}: the controller reads what the file references from its own disk; with
    // `bundle`, only from the bundle (a controller on another host).
    route({
      method: 'POST',
      path: '/api/v1/apply',
      summary: 'creates or changes the Rollouts of a file (with the AnalysisTemplates beside them)',
      body: applyBody,
      response: { description: 'what each Rollout of the file became', json: answers.applied },
      errors: [409],
      handle: async ({ body }) => ok({ applied: await controller.apply(body.file, body.text, body.bundle) }),
    }),
    route({
      method: 'GET',
      path: '/api/v1/events',
      summary: 'the event log as Server-Sent Events: the backlog after a cursor, then live',
      query: {
        rollout: { schema: z.string(), description: "only this rollout's events" },
        after: { schema: z.string(), description: 'the event id to resume after (Last-Event-ID wins over it)' },
      },
      response: { description: 'an event stream; each event has its id', contentType: 'text/event-stream' },
      errors: [503],
      handle: ({ req, res, query }) => events.serve(req, res, query),
    }),
    route({
      method: 'POST',
      path: '/api/v1/shutdown',
      summary: 'stops the controller (`all`: its routers and instances too)',
      body: shutdownBody,
      response: { status: 202, description: 'stopping', json: answers.stopping },
      handle: ({ body }) => {
        setImmediate(() => onShutdown(body.all));
        return ok({ stopping: true, all: body.all }, 202);
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/rollouts/:name',
      summary: 'one rollout, as `kanari status NAME` draws it',
      response: { description: 'the rollout', json: answers.rolloutView },
      handle: ({ params }) => ok(controller.view(params.name!)),
    }),
    route({
      method: 'GET',
      path: '/api/v1/rollouts/:name/history',
      summary: 'what happened to a rollout, oldest first (commands, phases, verdicts, results)',
      query: {
        limit: { schema: z.coerce.number().int().min(1), description: 'the newest this many (1000 unless said)' },
      },
      response: { description: 'its events', json: answers.history },
      handle: ({ params, query }) =>
        ok({ events: controller.history(params.name!, { limit: Number(query.get('limit') ?? 1000) }) }),
    }),
    route({
      method: 'GET',
      path: '/api/v1/rollouts/:name/series',
      summary: "a rollout's traffic, latency and evidence over time, in at most `points` buckets, for charts",
      query: SERIES_QUERY,
      response: { description: 'the series, with the step boundaries', json: answers.series },
      errors: [503],
      handle: async ({ params, query }) => ok(await controller.series(params.name!, seriesRange(query, Date.now()))),
    }),
    route({
      method: 'GET',
      path: '/api/v1/rollouts/:name/analyses/:id',
      summary: "an analysis run's report",
      response: { description: 'the report', json: answers.analysisReport },
      handle: ({ params }) => ok(controller.report(params.name!, params.id!)),
    }),
    route({
      method: 'POST',
      path: '/api/v1/rollouts/:name/deploy',
      summary: 'starts a rollout of a version',
      body: deployBody,
      ...CONTROL,
      handle: async ({ params, body }) => ok(await controller.deploy(params.name!, body.version, body.set)),
    }),
    route({
      method: 'DELETE',
      path: '/api/v1/rollouts/:name',
      summary: 'deletes a rollout that has ended (force: aborts one in flight first)',
      query: {
        force: {
          schema: z.enum(['true', 'false']),
          description: 'abort a rollout in flight, and delete it once users are back on stable',
        },
      },
      response: { description: 'deleted', json: answers.deleted },
      errors: [409],
      handle: async ({ params, query }) =>
        ok(await controller.remove(params.name!, { force: query.get('force') === 'true' })),
    }),
    ...COMMANDS.map((command) =>
      route({
        method: 'POST',
        path: `/api/v1/rollouts/:name/${command}`,
        summary: `kanari ${command}`,
        body: commandBody,
        ...CONTROL,
        handle: async ({ params, body }) => ok(await controller.command(params.name!, command, body)),
      }),
    ),
    route({
      method: 'POST',
      path: '/api/v1/rollouts/:name/weight',
      summary: 'holds the canary at a weight until resume, promote or abort (kanari set-weight)',
      body: setWeightBody,
      ...CONTROL,
      handle: async ({ params, body }) => ok(await controller.setWeight(params.name!, body.weight, body.reason)),
    }),
  ];
  // It describes the API and holds no secret (no rollout, no token), so tools read it without one.
  let document: unknown;
  routes.push(
    route({
      method: 'GET',
      path: '/api/openapi.json',
      public: true,
      summary: 'this document',
      response: { description: 'the OpenAPI 3.1 document' },
      handle: () => ok((document ??= openApiDocument(routes))),
    }),
  );
  return routes;
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
