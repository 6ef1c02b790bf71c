/**
 * The controller's REST API: JSON over HTTP (or HTTPS), a bearer token on everything but
 * health and metrics, errors as `application/problem+json`. Its routes, as data, each with
 * the least role that may call it (docs/api.md says why each has the one it has):
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import https from 'node:https';
import { z } from 'zod';
import { versionLabel } from '../config/schemas/rollout.js';
import { bundleFiles } from './bundle.js';
import { CONTROL, healthRoute, rolloutLogRoutes, rolloutRoutes, whoamiRoute, withOpenApi } from './api-core.js';
import type { Controller } from './controller.js';
import { loadDashboard, serveDashboard } from './dashboard-files.js';
import { EVENT_STREAM_DEFAULTS, EventStream, type EventStreamOptions } from './events.js';
import * as answers from './api-schemas.js';
import { renderControllerMetrics } from './metrics.js';
import { checkRole, dispatcher, ok, route, type Route } from './routes.js';
import { authRoutes, type AuthRouteOptions } from './auth-routes.js';
import type { OidcSignIn } from './oidc.js';
import { requestPrincipal, Sessions, SignInCodes, whileSignedIn } from './sessions.js';
import { tokenRoutes } from './token-routes.js';
import { localToken as keepLocalToken, Tokens } from './tokens.js';

const MAX_BODY_BYTES = 4 * 1024 * 1024;

const applyBody = z.strictObject({ file: z.string().min(1), text: z.string(), bundle: bundleFiles.optional() });
const deployBody = z.strictObject({ version: versionLabel, set: z.record(z.string(), z.string()).default({}) });
const shutdownBody = z.strictObject({ all: z.boolean().default(false) });

export function apiRoutes(
  controller: Controller,
  events: EventStream,
  tokens: Tokens,
  onShutdown: (all: boolean, actor: string) => void,
  /** The browser's sign-in: its sessions, codes, single sign-on. */
  browser: Omit<AuthRouteOptions, 'tokens'>,
): Route[] {
  const { sessions } = browser;
  const routes = [
    healthRoute,
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
    // {file, text}: the controller reads what the file references from its own disk; with
    // `bundle`, only from the bundle (a controller on another host). Admin: a file says
    // which commands run on this host, which ports it takes and which URLs it calls.
    route({
      method: 'POST',
      path: '/api/v1/apply',
      role: 'admin',
      summary: 'creates or changes the Rollouts of a file (with the AnalysisTemplates beside them)',
      body: applyBody,
      response: { description: 'what each Rollout of the file became', json: answers.applied },
      errors: [409],
      handle: async ({ body, principal }) =>
        ok({ applied: await controller.apply(body.file, body.text, body.bundle, principal!.name) }),
    }),
    route({
      method: 'GET',
      path: '/api/v1/events',
      role: 'viewer',
      summary: 'the event log as Server-Sent Events: the backlog after a cursor, then live',
      query: {
        rollout: { schema: z.string(), description: "only this rollout's events" },
        after: {
          schema: z.string(),
          description: 'the event id to resume after, or `now` for only what comes next (Last-Event-ID wins over it)',
        },
      },
      response: { description: 'an event stream; each event has its id', contentType: 'text/event-stream' },
      errors: [503],
      handle: ({ req, res, query, principal }) => {
        // A stream outlives the request that opened it; it ends when its token or session does.
        res.on(
          'close',
          whileSignedIn(principal!, tokens, sessions, () => res.destroy()),
        );
        return events.serve(req, res, query);
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/shutdown',
      role: 'admin',
      summary: 'stops the controller (`all`: its routers and instances too)',
      body: shutdownBody,
      response: { status: 202, description: 'stopping', json: answers.stopping },
      handle: ({ body, principal }) => {
        setImmediate(() => onShutdown(body.all, principal!.name));
        return ok({ stopping: true, all: body.all }, 202);
      },
    }),
    whoamiRoute,
    ...tokenRoutes(tokens),
    ...authRoutes({ ...browser, tokens }),
    ...rolloutLogRoutes({
      history: (name, limit) => controller.history(name, { limit }),
      series: (name, range) => controller.series(name, range),
      stream: ({ req, res, query, params, principal }) => {
        // As its history and series do: a rollout the controller does not hold (never applied, deleted) is 404.
        controller.known(params.name!);
        res.on(
          'close',
          whileSignedIn(principal!, tokens, sessions, () => res.destroy()),
        );
        return events.serveRollout(req, res, query, params.name!);
      },
      errors: { history: [], series: [503], events: [503] },
    }),
    route({
      method: 'GET',
      path: '/api/v1/rollouts/:name/analyses/:id',
      role: 'viewer',
      summary: "an analysis run's report",
      response: { description: 'the report', json: answers.analysisReport },
      handle: ({ params }) => ok(controller.report(params.name!, params.id!)),
    }),
    route({
      method: 'POST',
      path: '/api/v1/rollouts/:name/deploy',
      role: 'operator',
      summary: 'starts a rollout of a version',
      body: deployBody,
      ...CONTROL,
      handle: async ({ params, body, principal }) => {
        // `set` can change the canary's command: running commands on this host is an admin's.
        if (Object.keys(body.set).length > 0) checkRole(principal!, 'admin', 'a deploy with set');
        return ok(await controller.deploy(params.name!, body.version, body.set, principal!.name));
      },
    }),
    route({
      method: 'DELETE',
      path: '/api/v1/rollouts/:name',
      // What apply made, delete unmakes: the service's listener closes and its users are refused.
      role: 'admin',
      summary: 'deletes a rollout that has ended (force: aborts one in flight first)',
      query: {
        force: {
          schema: z.enum(['true', 'false']),
          description: 'abort a rollout in flight, and delete it once users are back on stable',
        },
      },
      response: { description: 'deleted', json: answers.deleted },
      errors: [409],
      handle: async ({ params, query, principal }) =>
        ok(await controller.remove(params.name!, { force: query.get('force') === 'true' }, principal!.name)),
    }),
    ...rolloutRoutes(controller),
  ];
  return withOpenApi(routes);
}

export interface ApiServerOptions {
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** The sign-in links' codes (kanari up issues them once the API listens). */
  codes?: SignInCodes;
  /** Single sign-on, when configured. */
  oidc?: OidcSignIn;
  log?: (line: string) => void;
  events?: Partial<EventStreamOptions>;
  /** Where the dashboard's built files are (dist/web unless said). */
  dashboardDir?: string;
  /**
   * Mark cookies Secure (and `__Host-`) without serving TLS here: a proxy in front terminates
   * it (`kanari up --secure-cookies`). Never guessed from X-Forwarded-Proto, which anyone may send.
   */
  secureCookies?: boolean;
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
  if (keepLocalToken(controller.store.tokens, localToken) !== localToken)
    throw new Error('the local token is not one the API can take (16 to 256 characters of base64url)');
  const dashboard = loadDashboard(options.dashboardDir);
  const sessions = new Sessions(controller.store.sessions, controller.store.tokens);
  const browser = {
    sessions,
    codes: options.codes ?? new SignInCodes(),
    ...(options.oidc ? { oidc: options.oidc } : {}),
    secure: options.tls !== undefined || options.secureCookies === true,
    log,
  };
  const handle = dispatcher(apiRoutes(controller, events, tokens, onShutdown, browser), {
    authenticate: (req) => requestPrincipal(req, tokens, sessions, browser.secure),
    maxBodyBytes: MAX_BODY_BYTES,
    log,
    fallback: (req, res) => serveDashboard(dashboard, req, res),
  });
  const server = options.tls ? https.createServer({ ...options.tls }, handle) : http.createServer(handle);
  server.on('close', () => events.close());
  server.on('listening', () =>
    options.oidc?.listeningAt(urlOf(server.address() as AddressInfo, options.tls !== undefined)),
  );
  return server;
}

/** Where a browser on this host reaches the API: a wildcard address by its loopback twin. */
export function urlOf(a: AddressInfo, tls: boolean): string {
  const host = a.address === '0.0.0.0' ? '127.0.0.1' : a.address === '::' ? '::1' : a.address;
  return `${tls ? 'https' : 'http'}://${a.family === 'IPv6' ? `[${host}]` : host}:${a.port}`;
}
