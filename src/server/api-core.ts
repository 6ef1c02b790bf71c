/**
 * The routes both modes serve: health, who the caller is, the rollouts and a person's
 * controls over them, and the OpenAPI document of whatever table they end up in.
 * `kanari up` serves them over its Controller; the operator (`kanari operator --api`)
 * over the Rollout resources. `Rollouts` is all either has to be.
 */
import { z } from 'zod';
import { percent } from '../config/schemas/table.js';
import { COMMANDS, type Command } from '../rollout/person-command.js';
import * as answers from './api-schemas.js';
import { openApiDocument } from './openapi.js';
import { ROLLOUT_EVENTS_QUERY } from './events.js';
import { ok, route, type Route, type RouteRequest } from './routes.js';
import { SERIES_QUERY, seriesRange, type SeriesRange } from './series.js';
import type { RolloutView } from './view.js';

/** The rollouts as the API shows and controls them; `actor` is who asked, for the history. */
export interface Rollouts {
  /** Every rollout; on a cluster, only those of `namespace` when it is said (`?namespace=`). */
  views(namespace?: string): RolloutView[] | Promise<RolloutView[]>;
  view(name: string): RolloutView | Promise<RolloutView>;
  command(
    name: string,
    command: Command,
    options: { full?: boolean; reason?: string },
    actor?: string,
  ): Promise<RolloutView>;
  setWeight(name: string, weight: number, reason?: string, actor?: string): Promise<RolloutView>;
}

const commandBody = z.strictObject({ full: z.boolean().optional(), reason: z.string().max(500).optional() });
const setWeightBody = z.strictObject({ weight: percent, reason: z.string().max(500).optional() });

/** What a control answers: the rollout as it is now, or a 409 saying why it was refused. */
export const CONTROL = {
  response: { description: 'the rollout, as it is now', json: answers.rolloutView },
  errors: [409],
} as const;

export const healthRoute = route({
  method: 'GET',
  path: '/healthz',
  public: true,
  summary: 'whether the controller answers, and its pid',
  response: { description: 'it answers', json: answers.healthz },
  handle: () => ok({ ok: true, pid: process.pid }),
});

export const whoamiRoute = route({
  method: 'GET',
  path: '/api/v1/whoami',
  role: 'viewer',
  summary: "the token's name and role: what a client may offer its user",
  response: { description: 'who the token is', json: answers.principal },
  // Only who and which role: a session's CSRF token is /auth/session's to give.
  handle: ({ principal }) =>
    ok({
      name: principal!.name,
      role: principal!.role,
      ...(principal!.tokenId === undefined ? {} : { tokenId: principal!.tokenId }),
    }),
});

/** What a mode's rollout routes answer: the view's schema, and what reads and controls may refuse besides. */
export interface RolloutAnswers {
  view: z.ZodType;
  list: z.ZodType;
  readErrors: readonly (404 | 409 | 503)[];
  controlErrors: readonly (404 | 409 | 503)[];
  /** The list's `?namespace=`, where rollouts have namespaces (the operator's): handed to `views`. */
  namespaceQuery?: NonNullable<Route['query']>[string];
}

const STANDALONE: RolloutAnswers = {
  view: answers.rolloutView,
  list: answers.rolloutList,
  readErrors: [],
  controlErrors: CONTROL.errors,
};

export function rolloutRoutes(rollouts: Rollouts, shapes: RolloutAnswers = STANDALONE): Route[] {
  const control = {
    response: { description: CONTROL.response.description, json: shapes.view },
    errors: shapes.controlErrors,
  };
  return [
    route({
      method: 'GET',
      path: '/api/v1/rollouts',
      role: 'viewer',
      summary: 'every rollout, as `kanari status` draws it',
      response: { description: 'the rollouts, by name', json: shapes.list },
      errors: shapes.readErrors,
      ...(shapes.namespaceQuery ? { query: { namespace: shapes.namespaceQuery } } : {}),
      handle: async ({ query }) =>
        ok({ rollouts: await rollouts.views((shapes.namespaceQuery && query.get('namespace')) ?? undefined) }),
    }),
    route({
      method: 'GET',
      path: '/api/v1/rollouts/:name',
      role: 'viewer',
      summary: 'one rollout, as `kanari status NAME` draws it',
      response: { description: 'the rollout', json: shapes.view },
      errors: shapes.readErrors,
      handle: async ({ params }) => ok(await rollouts.view(params.name!)),
    }),
    ...COMMANDS.map((command) =>
      route({
        method: 'POST',
        path: `/api/v1/rollouts/:name/${command}`,
        role: 'operator',
        summary: `kanari ${command}`,
        body: commandBody,
        ...control,
        handle: async ({ params, body, principal }) =>
          ok(await rollouts.command(params.name!, command, body, principal!.name)),
      }),
    ),
    route({
      method: 'POST',
      path: '/api/v1/rollouts/:name/weight',
      role: 'operator',
      summary: 'holds the canary at a weight until resume, promote or abort (kanari set-weight)',
      body: setWeightBody,
      ...control,
      handle: async ({ params, body, principal }) =>
        ok(await rollouts.setWeight(params.name!, body.weight, body.reason, principal!.name)),
    }),
  ];
}

type Errors = readonly (404 | 503)[];

/**
 * What a mode reads a rollout's log from, for the three routes both serve over it:
 * `kanari up` from its SQLite store, the operator from the ConfigMap beside the Rollout.
 * Each route's errors are the mode's own (`kanari up`'s history reads its store, which
 * cannot be busy; the operator's may find no Rollout, or no API server).
 */
export interface RolloutLogReader {
  history(name: string, limit: number): Promise<unknown[]> | unknown[];
  series(name: string, range: SeriesRange): Promise<unknown>;
  /** Answers the stream itself. */
  stream(r: RouteRequest<unknown>): Promise<void> | void;
  errors: { history: Errors; series: Errors; events: Errors };
}

/** A rollout's history, event stream and series: one path, query and answer in both modes. */
export function rolloutLogRoutes(log: RolloutLogReader): Route[] {
  return [
    route({
      method: 'GET',
      path: '/api/v1/rollouts/:name/history',
      role: 'viewer',
      summary: 'what happened to a rollout, oldest first (commands, phases, verdicts, results)',
      query: {
        limit: { schema: z.coerce.number().int().min(1), description: 'the newest this many (1000 unless said)' },
      },
      response: { description: 'its events', json: answers.history },
      errors: log.errors.history,
      handle: async ({ params, query }) =>
        ok({ events: await log.history(params.name!, Number(query.get('limit') ?? 1000)) }),
    }),
    route({
      method: 'GET',
      path: '/api/v1/rollouts/:name/events',
      role: 'viewer',
      summary:
        "a rollout's events as Server-Sent Events: the backlog after a cursor, then live (the path both modes serve)",
      query: ROLLOUT_EVENTS_QUERY,
      response: { description: 'an event stream; each event has its id', contentType: 'text/event-stream' },
      errors: log.errors.events,
      handle: (r) => log.stream(r),
    }),
    route({
      method: 'GET',
      path: '/api/v1/rollouts/:name/series',
      role: 'viewer',
      summary: "a rollout's traffic, latency and evidence over time, in at most `points` buckets, for charts",
      query: SERIES_QUERY,
      response: { description: 'the series, with the step boundaries', json: answers.series },
      errors: log.errors.series,
      handle: async ({ params, query }) => ok(await log.series(params.name!, seriesRange(query, Date.now()))),
    }),
  ];
}

/** `routes` and the OpenAPI document of them: it describes the API and holds no secret, so tools read it without a token. */
export function withOpenApi(routes: Route[]): Route[] {
  let document: unknown;
  const all: Route[] = [
    ...routes,
    route({
      method: 'GET',
      path: '/api/openapi.json',
      public: true,
      summary: 'this document',
      response: { description: 'the OpenAPI 3.1 document' },
      handle: () => ok((document ??= openApiDocument(all))),
    }),
  ];
  return all;
}
