import { z } from 'zod';
import { duration, timerDuration } from '../duration.js';
import {
  API_VERSION,
  exactlyOne,
  isLoopbackHost,
  listenAddress,
  metadata,
  name,
  parseHostPort,
  type HostPort,
} from './common.js';
import { routingTable } from './table.js';

export type AdminAddress = { unix: string } | HostPort;

/** The admin endpoint controls routing, so it only listens on loopback or a unix socket. */
const adminAddress = z.string().transform((text, ctx): AdminAddress => {
  if (text.startsWith('unix:')) return { unix: text.slice('unix:'.length) };
  const parsed = parseHostPort(text);
  if (!parsed || !isLoopbackHost(parsed.host)) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be a loopback host:port (127.0.0.1:9901) or unix:/path/to.sock',
      input: text,
    });
    return z.NEVER;
  }
  return parsed;
});

const sticky = z
  .strictObject({
    /** kanari sets this cookie to a random id on a user's first response. */
    cookie: z
      .string()
      .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be a valid cookie name')
      .optional(),
    /** A request header that already identifies the user, such as x-user-id. */
    header: z
      .string()
      .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be a valid header name')
      .transform((h) => h.toLowerCase())
      .optional(),
    /** The client's address (the first X-Forwarded-For entry is not trusted). */
    clientAddress: z.literal(true).optional(),
    /**
     * No affinity: each request gets its own random bucket, so a user may meet both versions.
     * Then requests, not users, are what is randomised, and a judge may count requests.
     */
    perRequest: z.literal(true).optional(),
  })
  .superRefine(exactlyOne(['cookie', 'header', 'clientAddress', 'perRequest']));
export type Sticky = z.output<typeof sticky>;

const timeouts = z.strictObject({
  /** Connecting to an upstream endpoint. */
  connect: timerDuration.default(2000),
  /** From sending a request upstream to receiving its response headers. */
  upstreamHeaders: timerDuration.default(60_000),
  /** A connection (client or upstream) with no bytes moving. */
  idle: timerDuration.default(60_000),
  /** A client sending its request headers. */
  clientHeaders: timerDuration.default(30_000),
  /** A client sending its request body, after its headers (raise it for large uploads over slow links). */
  clientBody: timerDuration.default(60_000),
});

const limits = z.strictObject({
  /** The request line and headers together. */
  maxHeaderBytes: z
    .number()
    .int()
    .min(1024)
    .max(1024 * 1024)
    .default(16 * 1024),
  /** Header lines in one request; more is answered 431. */
  maxHeaderLines: z.number().int().min(8).max(1000).default(100),
  /** Client connections open at once on the listener; past it new ones are refused and the open ones served. */
  maxConnections: z.number().int().min(1).max(1_000_000).default(10_000),
  /** Connections kanari opens to one upstream endpoint; past it requests wait for one to come free. */
  maxConnectionsPerEndpoint: z.number().int().min(1).max(100_000).default(1000),
  /** Slots of the stickiness-key tracker (6 bytes each); past 70% full it samples a smaller share of keys. */
  trackedKeys: z
    .number()
    .int()
    .min(1024)
    .max(2 ** 28)
    .default(2 ** 22),
});

const health = z.strictObject({
  path: z.string().startsWith('/', 'must start with /').default('/healthz'),
  interval: timerDuration.default(2000),
  timeout: timerDuration.default(1000),
  /** Consecutive failed checks before an endpoint is taken out. */
  unhealthyAfter: z.number().int().min(1).max(100).default(2),
  /** Consecutive good checks before it is put back. */
  healthyAfter: z.number().int().min(1).max(100).default(1),
});

const passive = z.strictObject({
  /** Consecutive connection failures that eject an endpoint. */
  failures: z.number().int().min(1).max(100).default(3),
  /** How long an ejected endpoint stays out before it is tried again. */
  ejectFor: duration.default(10_000),
});

/** A service's fields but its listener, in the order "did you mean" lists them. */
const routing = {
  sticky: sticky.optional(),
  timeouts: timeouts.prefault({}),
  limits: limits.prefault({}),
  health: health.optional(),
  passive: passive.default({ failures: 3, ejectFor: 10_000 }),
  table: routingTable,
};
/** What one service needs: its listener, how it routes and its first routing table. */
const serviceFields = { listen: listenAddress, ...routing };
export const serviceSpec = z.strictObject(serviceFields);
export type ServiceSpec = z.output<typeof serviceSpec>;

const admin = z
  .strictObject({
    listen: adminAddress.default({ host: '127.0.0.1', port: 9901 }),
    /** The bearer token; or tokenFile; or KANARI_ADMIN_TOKEN; else one is generated beside the state file. */
    token: z.string().min(16, 'must be at least 16 characters').optional(),
    tokenFile: z.string().optional(),
  })
  .default({ listen: { host: '127.0.0.1', port: 9901 } });

/** A router for one service: the service's fields at the top of spec. */
export const routerSpec = z.strictObject({
  listen: listenAddress,
  admin,
  /** Where the last routing table is kept; defaults to .kanari/<name>/router-table.json. */
  state: z.string().optional(),
  workers: z.number().int().min(1).max(64).default(1),
  ...routing,
});
export type RouterSpec = z.output<typeof routerSpec>;

/** One process for several services, each on its own listener; more can be added through the admin API. */
export const sharedRouterSpec = z.strictObject({
  admin,
  /** Holds services/<name>/ for each service: its routing table, and its spec when it was added at run time. */
  stateDir: z.string().min(1),
  services: z
    .array(z.strictObject({ name, ...serviceFields }))
    .default([])
    .superRefine((services, ctx) => {
      const seen = new Set<string>();
      services.forEach((s, i) => {
        if (seen.has(s.name))
          ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `another service is named ${s.name}` });
        seen.add(s.name);
      });
    }),
});
export type SharedRouterSpec = z.output<typeof sharedRouterSpec>;

export const routerDocument = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('Router'),
  metadata,
  spec: routerSpec,
});
export type RouterDocument = z.output<typeof routerDocument>;

/** One router process for several services (kind SharedRouter): what `kanari up` runs. */
export const sharedRouterDocument = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('SharedRouter'),
  metadata,
  spec: sharedRouterSpec,
});
export type SharedRouterDocument = z.output<typeof sharedRouterDocument>;

/**
 * A Router on loopback with ephemeral ports, for the demo, tests and benchmarks: `spec`
 * is merged over listen/admin on 127.0.0.1:0 and validated like any file.
 */
export function loopbackRouter(name: string, token: string, spec: Record<string, unknown>): RouterDocument {
  return routerDocument.parse({
    apiVersion: API_VERSION,
    kind: 'Router',
    metadata: { name },
    spec: { listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:0', token }, ...spec },
  });
}
