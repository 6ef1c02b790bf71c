/**
 * The parts of an HTTPRoute (gateway.networking.k8s.io/v1) kanari reads, as written in it;
 * everything else is kept as it is. Lists are bounded above the CRD's own limits (16 rules,
 * 16 backends, 64 matches) so a huge object is refused before any work is done on it.
 */
import { z } from 'zod';

const name = z.string().min(1).max(253);
const weight = z.number().int().min(0).max(1_000_000);

const headerValue = z.looseObject({ name: z.string().min(1).max(256), value: z.string().max(4096) });

/** A backendRef's own filter; kanari reads only the header modifier it may add its version header to. */
export const backendFilter = z.looseObject({
  type: z.string(),
  requestHeaderModifier: z.looseObject({ set: z.array(headerValue).max(16).optional() }).optional(),
});
export type BackendFilter = z.output<typeof backendFilter>;

export const backendRef = z.looseObject({
  group: z.string().optional(),
  kind: z.string().optional(),
  name,
  namespace: z.string().optional(),
  port: z.number().int().min(1).max(65535).optional(),
  weight: weight.optional(),
  filters: z.array(backendFilter).max(16).optional(),
});
export type BackendRef = z.output<typeof backendRef>;

export const headerMatch = z.looseObject({
  type: z.enum(['Exact', 'RegularExpression']).optional(),
  name: z.string().min(1).max(256),
  value: z.string().max(4096),
});
export type HeaderMatch = z.output<typeof headerMatch>;

export const routeMatch = z.looseObject({ headers: z.array(headerMatch).max(64).optional() });
export type RouteMatch = z.output<typeof routeMatch>;

export const filter = z.looseObject({
  type: z.string(),
  requestMirror: z
    .looseObject({
      backendRef: backendRef.optional(),
      percent: z.number().int().min(0).max(100).optional(),
      fraction: z
        .looseObject({ numerator: z.number().int().min(0), denominator: z.number().int().min(1).optional() })
        .optional(),
    })
    .optional(),
});
export type Filter = z.output<typeof filter>;

export const rule = z.looseObject({
  name: name.optional(),
  matches: z.array(routeMatch).max(64).optional(),
  filters: z.array(filter).max(64).optional(),
  backendRefs: z.array(backendRef).max(64).optional(),
});
export type Rule = z.output<typeof rule>;

export const httpRoute = z.looseObject({
  metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }),
  spec: z.looseObject({ rules: z.array(rule).max(64).optional() }),
});
export type HttpRoute = z.output<typeof httpRoute>;
