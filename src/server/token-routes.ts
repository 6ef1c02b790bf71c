/** The admin's routes over the API's tokens: make one (shown once), list them (no secrets), revoke one. */
import { z } from 'zod';
import * as answers from './api-schemas.js';
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
    route({
      method: 'GET',
      path: '/api/v1/tokens',
      role: 'admin',
      summary: 'every token, revoked ones too (kanari token list)',
      response: { description: 'the tokens, without secrets', json: answers.tokenList },
      handle: async () => ok({ tokens: await tokens.list() }),
    }),
    route({
      method: 'POST',
      path: '/api/v1/tokens',
      role: 'admin',
      summary: 'makes a token (kanari token create)',
      body: createBody,
      response: { status: 201, description: 'the token, shown this once', json: answers.tokenMade },
      errors: [409],
      handle: async ({ body, principal }) => {
        const lifetimeMs = parseLifetime(body.expires);
        const made = await tokens.create({
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
      summary: 'revokes the token with this id, or the one of this name not revoked yet (kanari token revoke)',
      response: { description: 'the token, revoked', json: answers.tokenInfo },
      errors: [404, 409],
      handle: async ({ params, principal }) => ok(await tokens.revoke(params.ref!, principal!.name)),
    }),
  ];
}
