/**
 * What the API answers, as zod schemas: the OpenAPI document declares them, and the
 * conformance test checks every answer against them. Each is tied to the TypeScript type
 * the server builds its answer as, so one cannot change without the other compiling.
 */
import { z } from 'zod';
import type { AnalysisReport } from '../analysis/judging/judge.js';
import { PHASES } from '../rollout/types.js';
import type { EventRow } from '../store/sqlite.js';
import type { ApplyResult } from './controller.js';
import { ROLES, type Principal, type TokenInfo } from './tokens.js';
import type { RolloutView } from './view.js';
import type { rolloutSeries } from './series.js';

const millis = z.number().describe('milliseconds since the epoch');
const health = z.object({ error: z.string(), since: millis });

export const rolloutView = z.object({
  name: z.string(),
  phase: z.enum(PHASES),
  revision: z.number().int(),
  stable: z.string(),
  canary: z.string().optional(),
  weights: z.object({ stable: z.number(), canary: z.number(), baseline: z.number() }).describe('percent of users'),
  listen: z.string().describe('host:port where users reach the rollout'),
  step: z.number().int(),
  steps: z.array(z.object({ index: z.number().int(), text: z.string(), state: z.enum(['done', 'current', 'next']) })),
  pauseLeft: z.number().optional().describe('milliseconds left of a timed pause step'),
  paused: z
    .object({
      reason: z.string(),
      message: z.string(),
      held: z.number().optional().describe('the canary weight a person holds the rollout at (set-weight)'),
    })
    .optional(),
  gate: z.object({ type: z.string(), since: millis, message: z.string() }).optional(),
  analyses: z.array(
    z.object({
      id: z.string(),
      template: z.string(),
      scope: z.enum(['step', 'background']),
      step: z.number().int(),
      verdict: z.string(),
      reason: z.string().optional(),
      score: z.number().optional(),
      measurements: z.number().int().optional(),
      startedAt: millis,
      endedAt: millis.optional(),
    }),
  ),
  message: z.string(),
  result: z.object({ outcome: z.string(), version: z.string(), reason: z.string(), at: millis }).optional(),
  router: z
    .object({
      serving: z.boolean(),
      since: millis.optional(),
      reason: z.string().optional(),
      warning: z.string().optional(),
    })
    .optional(),
  store: health.optional(),
  updatedAt: millis,
});

export const rolloutList = z.object({ rollouts: z.array(rolloutView) });

/** A rollout as the operator's API shows it: the same, with where it is and what Kubernetes users read on it. */
export const clusterRolloutView = rolloutView.extend({
  namespace: z.string(),
  conditions: z
    .array(
      // As on the resource, which anyone with patch on its status could have added to.
      z.looseObject({
        type: z.string(),
        status: z.string(),
        reason: z.string().optional(),
        message: z.string().optional(),
        lastTransitionTime: z.string().optional(),
      }),
    )
    .describe("the Rollout resource's status conditions"),
  command: z
    .looseObject({ id: z.string(), command: z.string(), refused: z.string().optional(), at: z.string() })
    .optional()
    .describe("the operator's answer to the last command (status.command)"),
});
export const clusterRolloutList = z.object({ rollouts: z.array(clusterRolloutView) });

export const applied = z.object({
  applied: z.array(z.object({ name: z.string(), change: z.enum(['created', 'configured', 'unchanged']) })),
});

export const eventRow = z.object({
  id: z.number().int(),
  rollout: z.string(),
  revision: z.number().int(),
  at: millis,
  type: z.string(),
  data: z.record(z.string(), z.unknown()),
});

export const history = z.object({ events: z.array(eventRow) });

/** A judge's details differ by judge; the members every report has are declared (others may come). */
export const analysisReport = z.object({
  template: z.string(),
  judge: z.enum(['threshold', 'sequential', 'kayenta', 'series']),
  scope: z.enum(['step', 'background']),
  startedAt: millis,
  endedAt: millis.optional(),
  verdict: z.string(),
  score: z.number(),
  reason: z.string(),
  metrics: z.array(
    z.object({ name: z.string(), verdict: z.string(), summary: z.string(), details: z.unknown().optional() }),
  ),
  measurements: z.number().int(),
});

export const healthz = z.object({ ok: z.literal(true), pid: z.number().int() });
export const stopping = z.object({ stopping: z.literal(true), all: z.boolean() });
export const deleted = z.object({ name: z.string(), deleted: z.literal(true) });

const points = z.array(z.number().nullable());
const versionSeries = z.object({
  requests: points,
  errors: points.describe('5xx responses'),
  maxErrorRate: points.describe('the highest errors/requests of any one second in the bucket'),
  maxP99: points.describe('the highest p99 latency (s) of any one second in the bucket'),
  p50: points.describe("the median latency (s) of the bucket's requests"),
  p99: points.describe("the p99 latency (s) of the bucket's requests"),
});

/** A rollout's series (src/server/series.ts): per version, arrays aligned on `t`, null where it served nothing. */
export const series = z.object({
  from: millis,
  to: millis,
  width: z.number().int().describe("each bucket's width in ms"),
  t: z.array(millis).describe("each bucket's start"),
  versions: z.object({
    stable: versionSeries.optional(),
    canary: versionSeries.optional(),
    baseline: versionSeries.optional(),
  }),
  evidence: z.array(
    z.object({
      run: z.string(),
      template: z.string(),
      metric: z.string(),
      rollbackAt: z.number().describe('ln(1/α): the run fails where ln E reaches it'),
      points: z
        .array(z.tuple([millis, z.number(), z.number()]))
        .describe("[bucket start, ln E at the bucket's last round, the largest ln E in it]"),
    }),
  ),
  marks: z
    .array(z.looseObject({ at: millis, type: z.string() }))
    .describe('deploy, status (phase, step, weights) and result events'),
  marksTruncated: z.literal(true).optional(),
});
export const principal = z.object({
  name: z.string().describe("the token's name: what the event log records as the actor"),
  role: z.enum(ROLES),
  tokenId: z.string().optional().describe('none for a session of single sign-on or a sign-in link'),
});
export const authConfig = z.object({
  oidc: z.object({ label: z.string() }).nullable().describe('null when single sign-on is not configured'),
});
export const session = z.object({
  actor: z.string().describe('what the event log records: a token name, oidc:<claim> or local'),
  role: z.enum(ROLES),
  csrf: z.string().describe('send it as X-CSRF-Token on every request but GET and HEAD'),
  expires: millis,
  via: z.enum(['token', 'oidc', 'link']),
});
/** A token without its secret or hash: nobody can show the secret again. */
export const tokenInfo = z.object({
  id: z.string().describe('16 hex digits, not secret'),
  name: z.string(),
  role: z.enum(ROLES),
  createdAt: millis,
  createdBy: z.string().optional(),
  expiresAt: millis.optional(),
  lastUsedAt: millis.optional().describe('to the minute'),
  revokedAt: millis.optional(),
  revokedBy: z.string().optional(),
});
export const tokenList = z.object({ tokens: z.array(tokenInfo) });
export const tokenMade = tokenInfo.extend({ token: z.string().describe('the token, shown this once') });

/** RFC 9457: every error the API answers, as `application/problem+json`. */
export const problem = z.looseObject({
  type: z.string().describe('about:blank, or https://kanari.dev/problems/invalid-config with `issues`'),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional().describe('the reason, in one line'),
  id: z.string().optional().describe('an internal error: the id it was logged under'),
  issues: z
    .array(z.looseObject({ message: z.string() }))
    .optional()
    .describe("a file's issues, each located"),
});

// The types the server answers with must be what the schemas accept (a compile-time check).
type Accepts<S extends z.ZodType, T extends z.input<S>> = T;
export type Checked = [
  Accepts<typeof rolloutView, RolloutView>,
  Accepts<typeof applied, { applied: ApplyResult[] }>,
  Accepts<typeof eventRow, EventRow>,
  Accepts<typeof analysisReport, AnalysisReport>,
  Accepts<typeof series, Awaited<ReturnType<typeof rolloutSeries>>>,
  Accepts<typeof principal, Principal>,
  Accepts<typeof tokenInfo, TokenInfo>,
];
