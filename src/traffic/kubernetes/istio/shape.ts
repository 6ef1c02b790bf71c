/**
 * The parts of a VirtualService and a DestinationRule (networking.istio.io/v1beta1) kanari
 * reads, as written; everything else is kept as it is. Lists are bounded so a huge object
 * is refused before any work is done on it.
 */
import { z } from 'zod';

const stringMatch = z.union([
  z.strictObject({ exact: z.string().max(4096) }),
  z.strictObject({ prefix: z.string().max(4096) }),
  z.strictObject({ regex: z.string().max(4096) }),
]);
export type StringMatch = z.output<typeof stringMatch>;

export const matchRequest = z.looseObject({
  headers: z
    .record(z.string().max(256), stringMatch)
    .refine((h) => Object.keys(h).length <= 64, 'at most 64 headers')
    .optional(),
});
export type MatchRequest = z.output<typeof matchRequest>;

export const destination = z.looseObject({
  host: z.string().min(1).max(253),
  subset: z.string().max(253).optional(),
  port: z.looseObject({ number: z.number().int().min(1).max(65535).optional() }).optional(),
});
export type Destination = z.output<typeof destination>;

export const routeDestination = z.looseObject({
  destination,
  weight: z.number().int().min(0).max(1_000_000).optional(),
});
export type RouteDestination = z.output<typeof routeDestination>;

export const httpRoute = z.looseObject({
  name: z.string().max(253).optional(),
  match: z.array(matchRequest).max(64).optional(),
  route: z.array(routeDestination).max(64).optional(),
  mirror: destination.optional(),
  mirrorPercentage: z.looseObject({ value: z.number().min(0).max(100) }).optional(),
  mirrors: z.array(z.unknown()).max(64).optional(),
});
export type HttpRoute = z.output<typeof httpRoute>;

export const virtualService = z.looseObject({
  metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }),
  spec: z.looseObject({ http: z.array(httpRoute).max(256).optional() }),
});
export type VirtualService = z.output<typeof virtualService>;

export const subset = z.looseObject({
  name: z.string().min(1).max(253),
  labels: z.record(z.string().max(317), z.string().max(63)).optional(),
});
export type Subset = z.output<typeof subset>;

export const destinationRule = z.looseObject({
  metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }),
  spec: z.looseObject({ host: z.string().min(1).max(253), subsets: z.array(subset).max(256).optional() }),
});
export type DestinationRule = z.output<typeof destinationRule>;
