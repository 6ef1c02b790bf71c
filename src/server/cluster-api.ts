/**
 * The API as the operator serves it (`kanari operator --api`): the routes both modes share
 * (api-core.ts) over the Rollout resources, and the token routes over tokens kept in a
 * Secret. What only a standalone controller can do — apply, deploy with set, delete,
 * shutdown, the event stream, history, series, reports, metrics — is not in its table, so
 * it answers 404 and its OpenAPI document does not list it: on Kubernetes those are
 * `kubectl apply`, `kubectl delete`, the Rollout's Events and status.
 *
 * With browser sessions (kept in a Secret, so every replica honours them) it serves the
 * dashboard's files as `kanari up` does and the browser's sign-in routes: a kanari token
 * or single sign-on; no sign-in link, and no session for a Kubernetes token.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import {
  healthRoute,
  rolloutRoutes,
  whoamiRoute,
  withOpenApi,
  type RolloutAnswers,
  type Rollouts,
} from './api-core.js';
import * as answers from './api-schemas.js';
import { authRoutes, type AuthRouteOptions } from './auth-routes.js';
import { loadDashboard, serveDashboard } from './dashboard-files.js';
import { dispatcher, type Route } from './routes.js';
import { sessionCookie, type Sessions } from './sessions.js';
import { tokenRoutes } from './token-routes.js';
import type { Principal, Tokens } from './tokens.js';

/** What a 401 tells the caller to send on a cluster. */
export const CLUSTER_TOKEN_HINT =
  "a kanari token (kanari token create), or a Kubernetes one such as kubectl create token's, whose role RBAC decides";

/** The bodies this API takes are a command's few fields: 64 KiB is plenty. */
const MAX_BODY_BYTES = 64 * 1024;

export interface ClusterApiOptions {
  rollouts: Rollouts;
  tokens: Tokens;
  /** Who a request is: kanari's tokens unless said (with RBAC, Kubernetes identities too). */
  authenticate?: (req: IncomingMessage) => Promise<Principal>;
  tls?: { cert: string | Buffer; key: string | Buffer };
  log: (line: string) => void;
  /** The dashboard and its sign-in: sessions every replica shares, and single sign-on when configured. */
  browser?: ClusterBrowser;
}

export interface ClusterBrowser {
  sessions: Sessions;
  oidc?: AuthRouteOptions['oidc'];
  /** Where the dashboard's built files are (dist/web unless said). */
  dashboardDir?: string;
}

/** Rollouts with their resource's namespace and conditions; one not taken on yet is 409 (its status says why). */
const CLUSTER_ROLLOUTS: RolloutAnswers = {
  view: answers.clusterRolloutView,
  list: answers.clusterRolloutList,
  readErrors: [409],
  controlErrors: [409],
};

export function clusterApiRoutes(
  rollouts: Rollouts,
  tokens: Tokens,
  browser?: Omit<AuthRouteOptions, 'tokens' | 'codes' | 'kanariTokensOnly'>,
): Route[] {
  const routes = [
    healthRoute,
    whoamiRoute,
    ...tokenRoutes(tokens),
    ...(browser ? authRoutes({ ...browser, tokens, kanariTokensOnly: true }) : []),
    ...rolloutRoutes(rollouts, CLUSTER_ROLLOUTS),
  ];
  // Every answer that needs a caller may wait on the API server (the Secret, a review, the Rollout): 503 when it cannot.
  return withOpenApi(
    routes.map((r) => (r.public ? r : { ...r, errors: [...new Set([...(r.errors ?? []), 503 as const])] })),
  );
}

export function createClusterApiServer(o: ClusterApiOptions): http.Server | https.Server {
  const bearer = o.authenticate ?? ((req) => o.tokens.authenticateCurrent(req.headers.authorization));
  const sessions = o.browser?.sessions;
  const dashboard = o.browser && loadDashboard(o.browser.dashboardDir);
  const browser = o.browser && {
    sessions: o.browser.sessions,
    ...(o.browser.oidc ? { oidc: o.browser.oidc } : {}),
    secure: o.tls !== undefined,
    log: o.log,
  };
  const handle = dispatcher(clusterApiRoutes(o.rollouts, o.tokens, browser), {
    // A bearer token when there is one (a cookie beside it is ignored), else a session cookie.
    authenticate: async (req) => {
      const id = sessions && req.headers.authorization === undefined ? sessionCookie(req.headers.cookie) : undefined;
      return id === undefined ? bearer(req) : sessions!.authenticateCurrent(id);
    },
    maxBodyBytes: MAX_BODY_BYTES,
    log: o.log,
    ...(dashboard ? { fallback: (req, res) => serveDashboard(dashboard, req, res) } : {}),
  });
  return o.tls ? https.createServer({ ...o.tls }, handle) : http.createServer(handle);
}
