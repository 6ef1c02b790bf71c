import { z } from 'zod';
import { duration, positiveDuration } from '../duration.js';
import { analysisTemplateSpec, type AnalysisTemplateSpec } from './analysis.js';
import { GATES, type RolloutDocument } from './rollout.js';
import { API_VERSION, exactlyOne, metadata, name } from './common.js';

const errorRate = z
  .number()
  .min(0, 'must be a probability between 0 and 1')
  .max(1, 'must be a probability between 0 and 1');
const latency = z.strictObject({ median: duration, sigma: z.number().positive().default(0.5) });

const behaviour = z.strictObject({
  errorRate: errorRate.default(0.001),
  latency: latency.default({ median: 50, sigma: 0.5 }),
});

/** A change to the canary's behaviour from a point in the rollout on. */
const change = z.strictObject({ at: duration, errorRate: errorRate.optional(), latency: latency.optional() });

/** A population of users sharing `traffic.rate`; each user has a bucket, so a version, of its own. */
const users = z.strictObject({
  count: z
    .number()
    .int('must be a whole number of users')
    .min(1, 'must be at least 1 user')
    .max(1e9, 'must be at most 1e9 users'),
  /** Pareto shape of the per-user rates (> 1; the smaller, the heavier the tail); absent, every user sends at the same rate. */
  shape: z.number().gt(1, 'must be greater than 1 (a Pareto shape of 1 or less has no mean rate)').max(100).optional(),
});

const bucket = z.union([
  z.literal('random'),
  z
    .number()
    .int('must be a whole bucket, 0 to 9999')
    .min(0, 'must be a bucket from 0 to 9999')
    .max(9999, 'must be a bucket from 0 to 9999'),
]);

/** One heavy client: one stickiness key, so every request it sends goes to the version of its bucket. */
const client = z.strictObject({
  /** Requests per second while active. */
  rate: z.number().positive(),
  /** Its own error rate, the same on either version (a client that retries a request the server rejects); absent, the version's. */
  errorRate: errorRate.optional(),
  /** Its own latency, the same on either version (a client whose requests are heavier); absent, the version's. */
  latency: latency.optional(),
  /** When it sends: `for` out of every `every`, from `offset` after the deploy; absent, all the time. */
  active: z
    .strictObject({ every: positiveDuration, for: positiveDuration, offset: duration.default(0) })
    .refine((a) => a.for <= a.every, { message: 'must be active at most `every`', path: ['for'] })
    .optional(),
  /** Its bucket (0–9999, canary buckets grow from 0 up, baseline from 9999 down), or `random`: a fresh one each run. */
  bucket: bucket.default('random'),
  /** How the canary treats this client when it differs from how stable does: a regression only a few users meet. */
  canary: z.strictObject({ errorRate }).optional(),
});

export const step = z
  .strictObject({
    setWeight: z.number().min(0, 'must be between 0 and 100').max(100, 'must be between 0 and 100').optional(),
    pause: z.strictObject({ duration }).optional(),
  })
  .superRefine(exactlyOne(['setWeight', 'pause']));
export type Step = z.output<typeof step>;

const template = z.union([name, z.strictObject({ name, spec: analysisTemplateSpec })]);

/** How the scenario answers a gate's webhooks: `pass` (for `rollback`: asks for one) or `fail`, this long after it is asked. */
const gateAnswer = z.strictObject({ answer: z.enum(['pass', 'fail']).default('pass'), after: duration.default(0) });

export const simulationSpec = z
  .strictObject({
    runs: z.number().int().positive().default(1000),
    seed: z.number().int().min(0).default(1),
    traffic: z
      .strictObject({
        /** Requests per second, all versions together. */
        rate: z.number().positive().default(1000),
        diurnal: z
          .strictObject({ amplitude: z.number().min(0).max(1), period: positiveDuration.default(86_400_000) })
          .optional(),
        /** Now and then one client sends a burst: sticky, so all of it lands on one version. */
        bursts: z
          .strictObject({
            every: positiveDuration,
            duration,
            rate: z.number().positive(),
            errorRate: errorRate.optional(),
            /** `new` (the default): each burst is a client never seen before, in a fresh bucket; `same`: one client (one bucket) recurs. */
            client: z.enum(['new', 'same']).optional(),
          })
          .optional(),
        /** The users who send `rate` between them; absent, every request is its own user (keys never repeat). */
        users: users.optional(),
        /** Heavy clients (bots, batch jobs, retrying clients), each one stickiness key, on top of `rate`. */
        clients: z.array(client).optional(),
        /** The share of requests that match the rollout's header or cookie routes (testers on a preview). */
        matching: z.number().min(0).max(1).optional(),
      })
      .default({ rate: 1000 }),
    stable: behaviour.default({ errorRate: 0.001, latency: { median: 50, sigma: 0.5 } }),
    canary: behaviour.extend({ changes: z.array(change).default([]) }).optional(),
    /** A canary plan of setWeight and pause steps, run once under each of `templates`… */
    steps: z.array(step).min(1).optional(),
    /** Built-in template names (sequential, threshold) or inline templates; each is run on the same traffic. */
    templates: z.array(template).min(1).optional(),
    /** …or a Rollout file (relative to this one), whose own plan and analyses are run as they are. */
    rollout: z.strictObject({ file: z.string().min(1), name: name.optional() }).optional(),
    /** When a person runs `kanari promote` after the rollout starts waiting for one; unset, nobody does. */
    promote: z.strictObject({ after: duration }).optional(),
    /** How the webhooks of each gate answer; a gate not named passes at once (and `rollback` never asks). */
    webhooks: z.partialRecord(z.enum(GATES), gateAnswer).default({}),
    /** The longest one run lasts, for plans that wait on something nobody answers. */
    duration: positiveDuration.default(3_600_000),
  })
  .superRefine((spec, ctx) => {
    exactlyOne<typeof spec>(['steps', 'rollout'])(spec, ctx);
    if (spec.rollout && spec.templates)
      ctx.addIssue({
        code: 'custom',
        path: ['templates'],
        message: 'a rollout is judged by its own analyses; templates go with steps',
        input: spec.templates,
      });
  });

/** A Simulation's rollout as loaded: the Rollout document and the AnalysisTemplates of its file. */
export interface SimulatedRollout {
  document: RolloutDocument;
  templates: Record<string, AnalysisTemplateSpec>;
}

export type SimulationSpec = Omit<z.output<typeof simulationSpec>, 'rollout'> & {
  rollout?: { file: string; name?: string; loaded?: SimulatedRollout };
};

export const simulationDocument = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('Simulation'),
  metadata,
  spec: simulationSpec,
});
export type SimulationDocument = z.output<typeof simulationDocument>;
