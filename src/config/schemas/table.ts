import { z } from 'zod';
import { compileLinearRegex } from '../../shared/regex.js';
import { exactlyOne } from './common.js';

import { VERSIONS, type Version } from '../../shared/stats-snapshot.js';

export { VERSIONS, type Version } from '../../shared/stats-snapshot.js';
export const version = z.enum(VERSIONS);

/** A share of traffic in percent, in steps of 0.01 (the router splits into 10,000 buckets). */
export const percent = z
  .number()
  .min(0, 'must be between 0 and 100')
  .max(100, 'must be between 0 and 100')
  .refine((v) => Math.abs(v * 100 - Math.round(v * 100)) < 1e-6, 'must be a multiple of 0.01');

export const endpoint = z.string().transform((text, ctx) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be a URL such as http://127.0.0.1:9001', input: text });
    return z.NEVER;
  }
  if (url.protocol !== 'http:') {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an http:// URL (kanari speaks plain HTTP/1.1 to upstreams)',
      input: text,
    });
    return z.NEVER;
  }
  if (url.pathname !== '/' || url.search || url.hash || url.username) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be only scheme, host and port (requests keep their own path)',
      input: text,
    });
    return z.NEVER;
  }
  return `http://${url.host}`;
});

const endpoints = z.array(endpoint).max(256);

/** A regex that V8's linear-time engine accepts (no backreferences or lookarounds). */
export const linearRegex = z
  .string()
  .max(1024)
  .superRefine((pattern, ctx) => {
    try {
      compileLinearRegex(pattern);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message, input: pattern });
    }
  });

/** How one header or cookie value is compared; regexes run on V8's linear-time engine. */
const valueMatch = z
  .strictObject({
    name: z.string().min(1).max(256),
    exact: z.string().optional(),
    prefix: z.string().optional(),
    regex: linearRegex.optional(),
  })
  .superRefine(exactlyOne(['exact', 'prefix', 'regex']));
export type ValueMatch = z.output<typeof valueMatch>;

export const matchRule = z
  .strictObject({
    header: valueMatch.optional(),
    cookie: valueMatch.optional(),
    version,
  })
  .superRefine((rule, ctx) => {
    if (!rule.header && !rule.cookie)
      ctx.addIssue({ code: 'custom', message: 'needs a header or a cookie to match', input: rule });
  });
export type MatchRule = z.output<typeof matchRule>;

export const mirror = z.strictObject({
  version,
  percent: percent.default(100),
  /** Requests whose body is larger are not mirrored, so mirroring never buffers without bound. */
  maxBodyBytes: z
    .number()
    .int()
    .min(0)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
});

/** The routing table: one versioned document the controller replaces as a whole. */
export const routingTable = z
  .strictObject({
    pools: z.strictObject({
      stable: endpoints.min(1, 'must list at least one endpoint'),
      canary: endpoints.default([]),
      baseline: endpoints.default([]),
    }),
    weights: z
      .strictObject({ canary: percent.default(0), baseline: percent.default(0) })
      .default({ canary: 0, baseline: 0 }),
    match: z.array(matchRule).max(64).default([]),
    mirror: mirror.nullable().default(null),
  })
  .superRefine((table, ctx) => {
    const { canary, baseline } = table.weights;
    const inRange = (w: number) => w >= 0 && w <= 100;
    if (inRange(canary) && inRange(baseline) && Math.round(canary * 100) + Math.round(baseline * 100) > 10_000) {
      ctx.addIssue({
        code: 'custom',
        path: ['weights'],
        message: `canary and baseline together must be at most 100 (got ${canary + baseline})`,
        input: table.weights,
      });
    }
    const empty = (v: Version) => table.pools[v].length === 0;
    for (const v of ['canary', 'baseline'] as const) {
      if (table.weights[v] > 0 && empty(v))
        ctx.addIssue({
          code: 'custom',
          path: ['weights', v],
          message: `has no endpoints in pools.${v}`,
          input: table.weights[v],
        });
    }
    table.match.forEach((rule, i) => {
      if (empty(rule.version))
        ctx.addIssue({
          code: 'custom',
          path: ['match', i, 'version'],
          message: `has no endpoints in pools.${rule.version}`,
          input: rule.version,
        });
    });
    if (table.mirror && empty(table.mirror.version)) {
      ctx.addIssue({
        code: 'custom',
        path: ['mirror', 'version'],
        message: `has no endpoints in pools.${table.mirror.version}`,
        input: table.mirror.version,
      });
    }
  });

export type RoutingTable = z.output<typeof routingTable>;
export type RoutingTableInput = z.input<typeof routingTable>;
