/**
 * The browser's routes: who it is, signing in (with a token, single sign-on, or the link
 * `kanari up` prints) and out. Each sign-in ends in a session cookie (sessions.ts); a
 * failed one never makes a session, and the text it shows a person holds no secret.
 */
import { z } from 'zod';
import { HttpError } from '../shared/http.js';
import * as answers from './api-schemas.js';
import { ok, route, type Answer, type Route } from './routes.js';
import { SignInRefused, type SignInError, type SingleSignOn } from './oidc.js';
import { cookieValues, sessionCookieHeader, type Sessions, type SignInCodes } from './sessions.js';
import { LOCAL_TOKEN_NAME, type Tokens } from './tokens.js';

export interface AuthRouteOptions {
  tokens: Tokens;
  sessions: Sessions;
  /** The sign-in link's codes: `kanari up` prints links, an operator none (no route then). */
  codes?: SignInCodes;
  /**
   * Only kanari's own tokens sign a browser in (the operator): a Kubernetes token's role is
   * RBAC's in each Rollout's namespace, asked on every request, which a session cannot carry.
   */
  kanariTokensOnly?: boolean;
  oidc?: SingleSignOn;
  /** Served over TLS (here, or by a proxy in front): the cookies are `Secure`, and their names prefixed. */
  secure: boolean;
  log: (line: string) => void;
}

const signInBody = z.strictObject({ token: z.string().max(400) });
/** The flow cookie lives where the callback is, no longer than the flow it names. */
const FLOW_COOKIE = 'kanari_oidc';
const FLOW_COOKIE_PATH = '/auth/oidc';

export function authRoutes(o: AuthRouteOptions): Route[] {
  const signedIn = (
    id: string,
    status: number,
    extra: Record<string, string> = {},
    cookies: string[] = [],
  ): Answer => ({
    status,
    headers: { 'set-cookie': [sessionCookieHeader(o.secure, id), ...cookies], 'cache-control': 'no-store', ...extra },
  });
  // `__Secure-` (its path is not `/`, so not `__Host-`): a browser takes it only from an HTTPS page, and Secure.
  const flowName = o.secure ? `__Secure-${FLOW_COOKIE}` : FLOW_COOKIE;
  const flowCookie = (value: string, age: number) =>
    `${flowName}=${value}; HttpOnly; SameSite=Lax; Path=${FLOW_COOKIE_PATH}; Max-Age=${age}${o.secure ? '; Secure' : ''}`;
  const refused = (code: SignInError, cookies: string[] = []): Answer => ({
    status: 303,
    headers: {
      location: `/?sign-in-error=${code}`,
      'set-cookie': cookies,
      'cache-control': 'no-store',
    },
  });
  return [
    route({
      method: 'GET',
      path: '/auth/config',
      public: true,
      summary: 'how a person may sign in here: with a token, and with single sign-on when it is configured',
      response: { description: 'the sign-in options', json: answers.authConfig },
      handle: () => ok({ oidc: o.oidc ? { label: o.oidc.label } : null }),
    }),
    route({
      method: 'POST',
      path: '/auth/sign-in',
      public: true,
      summary: "signs a browser in with a token: a session cookie with the token's name and role",
      body: signInBody,
      response: { status: 204, description: 'signed in: the session cookie is set', empty: true },
      errors: [401, 429],
      handle: async ({ body }) => {
        if (o.kanariTokensOnly && !body.token.startsWith('kanari_'))
          throw new HttpError(
            401,
            'only a kanari token (kanari token create) signs in here: a Kubernetes token’s role comes from RBAC in each namespace at each request, so use it as a bearer token instead',
            { reason: 'kubernetes-token' },
            { 'www-authenticate': 'Bearer' },
          );
        let principal;
        try {
          principal = await o.tokens.authenticateCurrent(`Bearer ${body.token}`);
        } catch (err) {
          // One answer for every way a token is wrong: a person at a sign-in page needs no more.
          if (err instanceof HttpError && err.status === 401)
            throw new HttpError(401, 'wrong, expired or revoked token', {}, { 'www-authenticate': 'Bearer' });
          throw err;
        }
        const { id } = await o.sessions.start({
          actor: principal.name,
          role: principal.role,
          via: 'token',
          tokenId: principal.tokenId!,
        });
        return signedIn(id, 204);
      },
    }),
    route({
      method: 'GET',
      path: '/auth/session',
      role: 'viewer',
      summary: "the browser's session: who, which role, its CSRF token and when it ends",
      response: { description: 'the session', json: answers.session },
      handle: ({ principal }) => {
        const s = needSession(principal?.session);
        return ok({ actor: principal!.name, role: principal!.role, csrf: s.csrf, expires: s.expiresAt, via: s.via });
      },
    }),
    route({
      method: 'POST',
      path: '/auth/sign-out',
      role: 'viewer',
      summary: 'ends the browser session here and now, and clears its cookie',
      response: { status: 204, description: 'signed out', empty: true },
      handle: async ({ principal }) => {
        await o.sessions.end(needSession(principal?.session));
        return { status: 204, headers: { 'set-cookie': sessionCookieHeader(o.secure) } };
      },
    }),
    route({
      method: 'GET',
      path: '/auth/oidc/start',
      public: true,
      summary: 'sends the browser to the identity provider (authorization code with PKCE)',
      response: { status: 302, description: "to the provider's sign-in page", empty: true },
      errors: [404, 503],
      handle: async () => {
        if (!o.oidc) throw new HttpError(404, 'single sign-on is not configured here (kanari up --oidc FILE)');
        const flow = await o.oidc.start().catch((err: unknown) => {
          // Ours, with its reason (on a cluster: the sessions Secret that holds the flows' key).
          if (err instanceof HttpError) throw err;
          o.log(`single sign-on: cannot reach the identity provider: ${(err as Error).message}`);
          throw new HttpError(503, 'the identity provider cannot be reached now; try again, or sign in with a token');
        });
        return {
          status: 302,
          headers: { location: flow.url, 'set-cookie': flowCookie(flow.id, 600), 'cache-control': 'no-store' },
        };
      },
    }),
    route({
      method: 'GET',
      path: '/auth/oidc/callback',
      public: true,
      summary: 'where the identity provider sends the browser back: a session, or the sign-in page with why not',
      query: {
        code: { schema: z.string().max(4096), description: 'the authorization code' },
        state: { schema: z.string().max(512), description: 'the state the sign-in was started with' },
        iss: { schema: z.string().max(2048), description: "the provider's issuer (RFC 9207)" },
        error: { schema: z.string().max(512), description: "the provider's refusal" },
        error_description: { schema: z.string().max(2048), description: 'its words (logged, not shown)' },
      },
      response: { status: 303, description: 'to the dashboard, signed in or with ?sign-in-error=', empty: true },
      handle: async ({ req, query }) => {
        const clear = flowCookie('', 0);
        if (!o.oidc) return refused('sso-off', [clear]);
        const flows = cookieValues(req.headers.cookie, flowName);
        const flow = flows.length === 1 ? flows[0] : undefined;
        let who;
        try {
          who = await o.oidc.finish(flow, query);
        } catch (err) {
          const why = err instanceof SignInRefused ? err.message : 'the identity provider’s answer was not valid';
          o.log(`single sign-on refused: ${why}${err instanceof SignInRefused ? '' : ` (${describeOidcError(err)})`}`);
          return refused(err instanceof SignInRefused ? err.code : 'invalid', [clear]);
        }
        let id;
        try {
          ({ id } = await o.sessions.start({ actor: who.actor, role: who.role, via: 'oidc' }));
        } catch (err) {
          if (!(err instanceof HttpError && err.status === 429)) throw err;
          o.log(`single sign-on refused: ${err.message}`);
          return refused('busy', [clear]);
        }
        o.log(`${who.actor} signed in with single sign-on as ${who.role}`);
        return signedIn(id, 303, { location: '/' }, [clear]);
      },
    }),
    ...(o.codes === undefined ? [] : [signInLinkRoute(o.codes, o.log, signedIn, refused, o.sessions)]),
  ];
}

/** `GET /sign-in?code=`: the link kanari up prints. */
function signInLinkRoute(
  codes: SignInCodes,
  log: (line: string) => void,
  signedIn: (id: string, status: number, extra?: Record<string, string>) => Answer,
  refused: (code: SignInError) => Answer,
  sessions: Sessions,
): Route {
  return route({
    method: 'GET',
    path: '/sign-in',
    public: true,
    summary: 'the sign-in link kanari up prints: a code valid once for 60 s becomes an admin session',
    query: { code: { schema: z.string().max(100), description: 'the single-use code' } },
    response: { status: 303, description: 'to the dashboard, signed in or with ?sign-in-error=', empty: true },
    handle: async ({ query }) => {
      const code = query.get('code');
      if (code === null || !codes.redeem(code)) return refused('link');
      const { id } = await sessions.start({ actor: LOCAL_TOKEN_NAME, role: 'admin', via: 'link' });
      log(`${LOCAL_TOKEN_NAME} signed in with the sign-in link as admin`);
      return signedIn(id, 303, { location: '/' });
    },
  });
}

/** openid-client's error in a line for the log: its messages down the cause chain and the OAuth error code; never a token. */
function describeOidcError(err: unknown): string {
  const said: string[] = [];
  for (let e = err as { message?: unknown; error?: unknown; cause?: unknown } | undefined; e && said.length < 3;) {
    if (typeof e.message === 'string') said.push(e.message.slice(0, 200));
    if (typeof e.error === 'string') said.push(e.error.slice(0, 60));
    e = e.cause instanceof Error ? e.cause : undefined;
  }
  return said.join(': ');
}

function needSession<S>(session: S | undefined): S {
  if (session === undefined)
    throw new HttpError(
      401,
      'no browser session: this request carries a bearer token, not a session cookie',
      {},
      { 'www-authenticate': 'Bearer' },
    );
  return session;
}
