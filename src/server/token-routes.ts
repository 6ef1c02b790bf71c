/** The admin's routes over the API's tokens: make one (shown once), list them (no secrets), revoke one. */
import { z } from 'zod';
import { ok, route, type Route } from './routes.js';
import { DEFAULT_LIFETIME, parseLifetime, ROLES, type Tokens } from './tokens.js';

const createBody = z.strictObject({
  name: z.string().max(200),
  role: z.enum(ROLES),
  /** `30d`, `12h`, `never`; default DEFAULT_LIFETIME. */
  expires: z.string().max(40).default(DEFAULT_LIFETIME),
});

export function tokenRoutes(tokens: Tokens): Route[] {
  return [
    route({ method: 'GET', path: '/api/v1/tokens', role: 'admin', handle: () => ok({ tokens: tokens.list() }) }),
    route({
      method: 'POST',
      path: '/api/v1/tokens',
      role: 'admin',
      body: createBody,
      handle: ({ body, principal }) => {
        const lifetimeMs = parseLifetime(body.expires);
        const made = tokens.create({
          name: body.name,
          role: body.role,
          by: principal!.name,
          ...(lifetimeMs === undefined ? {} : { lifetimeMs }),
        });
        return ok({ token: made.token, ...made.info }, 201);
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/tokens/:ref/revoke',
      role: 'admin',
      handle: ({ params, principal }) => ok(tokens.revoke(params.ref!, principal!.name)),
    }),
  ];
}
