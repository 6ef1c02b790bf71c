import { z } from 'zod';
import { duration } from '../duration.js';
import { compile, ExpressionError } from '../../analysis/judges/threshold/expression.js';
import { API_VERSION, exactlyOne, metadata, name } from './common.js';

const probability = (what: string) => z.number().gt(0, `must be above 0 (${what})`).lt(1, `must be below 1 (${what})`);

/** A condition, compiled at load time so a syntax error is reported at its line in the file. */
const condition = z.string().superRefine((text, ctx) => {
  try {
    compile(text);
  } catch (err) {
    if (err instanceof ExpressionError) ctx.addIssue({ code: 'custom', message: err.message, input: text });
    else throw err;
  }
});

/** kanari's own router statistics, per version (the `builtin` provider). */
export const builtinQuery = z.strictObject({
  signal: z.enum(['successRate', 'errorRate', 'requests', 'latency']),
  /** For `latency`: which quantile, in (0, 1). */
  quantile: probability('a quantile such as 0.99').optional(),
  version: z.enum(['canary', 'stable', 'baseline']).default('canary'),
}).superRefine((q, ctx) => {
  if (q.signal === 'latency' && q.quantile === undefined) ctx.addIssue({ code: 'custom', message: 'a latency signal needs a quantile, such as 0.99', path: ['quantile'], input: q });
  if (q.signal !== 'latency' && q.quantile !== undefined) ctx.addIssue({ code: 'custom', message: `only a latency signal takes a quantile (this one is ${q.signal})`, path: ['quantile'], input: q });
});
export type BuiltinQuery = z.output<typeof builtinQuery>;

export const provider = z.strictObject({ builtin: builtinQuery.optional() }).superRefine(exactlyOne(['builtin']));

export const thresholdMetric = z.strictObject({
  name,
  provider,
  successCondition: condition.optional(),
  failureCondition: condition.optional(),
  interval: duration.optional(),
  count: z.number().int().positive().optional(),
  initialDelay: duration.default(0),
  failureLimit: z.number().int().min(0).default(0),
  inconclusiveLimit: z.number().int().min(0).default(0),
  consecutiveErrorLimit: z.number().int().min(0).default(4),
  dryRun: z.boolean().default(false),
});
export type ThresholdMetric = z.output<typeof thresholdMetric>;

export const sequentialMetric = z.discriminatedUnion('kind', [
  z.strictObject({ name, kind: z.literal('errors'), weight: z.number().positive().default(1) }),
  z.strictObject({ name, kind: z.literal('slow'), threshold: duration, weight: z.number().positive().default(1) }),
  z.strictObject({ name, kind: z.literal('latency'), quantiles: z.array(probability('a quantile such as 0.99')).min(1).default([0.5, 0.9, 0.99]), weight: z.number().positive().default(1) }),
]);

export const sequentialSpec = z.strictObject({
  alpha: probability('the chance of a false rollback over the whole analysis').default(0.05),
  metrics: z.array(sequentialMetric).min(1).default([
    { name: 'errors', kind: 'errors', weight: 2 },
    { name: 'latency', kind: 'latency', quantiles: [0.5, 0.9, 0.99], weight: 1 },
  ]),
  srm: z.union([z.literal(false), z.strictObject({ tolerance: z.number().positive().default(0.3), alpha: probability('the guard\'s own error rate').default(0.001) })]).default({ tolerance: 0.3, alpha: 0.001 }),
  promotion: z.strictObject({ minRequests: z.number().int().min(0).default(0), noWorseThan: z.number().gt(1, 'must be a ratio above 1, such as 1.5').optional() }).default({ minRequests: 0 }),
});

export const analysisTemplateSpec = z.strictObject({
  threshold: z.strictObject({ metrics: z.array(thresholdMetric).min(1) }).optional(),
  sequential: sequentialSpec.optional(),
}).superRefine(exactlyOne(['threshold', 'sequential']));
export type AnalysisTemplateSpec = z.output<typeof analysisTemplateSpec>;

export const analysisTemplateDocument = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('AnalysisTemplate'),
  metadata,
  spec: analysisTemplateSpec,
});
export type AnalysisTemplateDocument = z.output<typeof analysisTemplateDocument>;
