import { z } from 'zod';
import { duration, positiveDuration } from '../duration.js';
import { analysisTemplateSpec } from './analysis.js';
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

export const step = z
  .strictObject({
    setWeight: z.number().min(0, 'must be between 0 and 100').max(100, 'must be between 0 and 100').optional(),
    pause: z.strictObject({ duration }).optional(),
  })
  .superRefine(exactlyOne(['setWeight', 'pause']));
export type Step = z.output<typeof step>;

const template = z.union([name, z.strictObject({ name, spec: analysisTemplateSpec })]);

export const simulationSpec = z.strictObject({
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
        })
        .optional(),
    })
    .default({ rate: 1000 }),
  stable: behaviour.default({ errorRate: 0.001, latency: { median: 50, sigma: 0.5 } }),
  canary: behaviour.extend({ changes: z.array(change).default([]) }).optional(),
  steps: z.array(step).min(1),
  /** Built-in template names (sequential, threshold) or inline templates; each is run on the same traffic. */
  templates: z.array(template).min(1).default(['sequential']),
});
export type SimulationSpec = z.output<typeof simulationSpec>;

export const simulationDocument = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('Simulation'),
  metadata,
  spec: simulationSpec,
});
export type SimulationDocument = z.output<typeof simulationDocument>;
