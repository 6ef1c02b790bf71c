/**
 * The API as the operator serves it (`kanari operator --api`): the routes both modes share
 * (api-core.ts) over the Rollout resources, the token routes over tokens kept in a Secret,
 * and each Rollout's history, series and event stream read from the ConfigMap the leader
 * writes beside it (cluster-log.ts). What only a standalone controller can do — apply,
 * deploy with set, delete, shutdown, the event stream of every rollout at once, analysis
 * reports, metrics — is not in its table, so it answers 404 and its OpenAPI document does
 * not list it: on Kubernetes those are `kubectl apply`, `kubectl delete`, the Rollout's
 * Events and status.
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
import { k8sLabel } from '../config/schemas/kubernetes.js';
import * as answers from './api-schemas.js';
import { authRoutes, type AuthRouteOptions } from './auth-routes.js';
import { loadDashboard, serveDashboard } from './dashboard-files.js';
import { clusterLogRoutes, type ClusterLogs } from './cluster-log.js';
import { dispatcher, type Route } from './routes.js';
import { sessionCookie, whileSignedIn, type Sessions } from './sessions.js';
import { tokenRoutes } from './token-routes.js';
import { HttpError } from '../shared/http.js';
import { roleAllows, type Principal, type Tokens } from './tokens.js';

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
  /** Mark cookies Secure (and `__Host-`) without serving TLS here: a proxy in front terminates it. */
  secureCookies?: boolean;
  log: (line: string) => void;
  /** The dashboard and its sign-in: sessions every replica shares, and single sign-on when configured. */
  browser?: ClusterBrowser;
  /** Each Rollout's log and history (the ConfigMaps beside them); without it, those routes are not served. */
  logs?: ClusterLogs;
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
  namespaceQuery: {
    schema: k8sLabel,
    description: "only this namespace's Rollouts, RBAC asked there: for who may read in some namespaces only",
  },
};

/** Who the caller is, and on a cluster their role in `?namespace=` (the operator's own unless said). */
const clusterWhoami: Route = {
  ...whoamiRoute,
  summary: "the caller's name and role (a Kubernetes identity's in ?namespace=, else the operator's namespace)",
  query: {
    namespace: {
      schema: k8sLabel,
      description: "the namespace a Kubernetes identity's role is RBAC's in (the operator's own unless said)",
    },
  },
};

export function clusterApiRoutes(
  rollouts: Rollouts,
  tokens: Tokens,
  extras: {
    browser?: Omit<AuthRouteOptions, 'tokens' | 'codes' | 'kanariTokensOnly'>;
    logs?: ClusterLogs;
    /** Whether a stream's caller may still read it, as another replica or RBAC may have changed (asked again every so often). */
    stillValid?: (req: IncomingMessage, p: Principal) => Promise<boolean>;
  } = {},
): Route[] {
  const routes = [
    healthRoute,
    clusterWhoami,
    ...tokenRoutes(tokens),
    ...(extras.browser ? authRoutes({ ...extras.browser, tokens, kanariTokensOnly: true }) : []),
    ...rolloutRoutes(rollouts, CLUSTER_ROLLOUTS),
    ...(extras.logs
      ? clusterLogRoutes(extras.logs, {
          stillValid: extras.stillValid ?? (() => Promise.resolve(true)),
          // Revoked or signed out on this replica: its streams end at once, not at their next recheck.
          whileSignedIn: (p, end) => whileSignedIn(p, tokens, extras.browser?.sessions, end),
        })
      : []),
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
  const secure = o.tls !== undefined || o.secureCookies === true;
  const browser = o.browser && {
    sessions: o.browser.sessions,
    ...(o.browser.oidc ? { oidc: o.browser.oidc } : {}),
    secure,
    log: o.log,
  };
  // A bearer token when there is one (a cookie beside it is ignored), else a session cookie.
  const authenticate = async (req: IncomingMessage): Promise<Principal> => {
    const id =
      sessions && req.headers.authorization === undefined ? sessionCookie(req.headers.cookie, secure) : undefined;
    return id === undefined ? bearer(req) : sessions!.authenticateCurrent(id);
  };
  const routes = clusterApiRoutes(o.rollouts, o.tokens, {
    ...(browser ? { browser } : {}),
    ...(o.logs ? { logs: o.logs } : {}),
    stillValid: stillValid(authenticate),
  });
  const handle = dispatcher(routes, {
    authenticate,
    maxBodyBytes: MAX_BODY_BYTES,
    log: o.log,
    ...(dashboard ? { fallback: (req, res) => serveDashboard(dashboard, req, res) } : {}),
  });
  return o.tls ? https.createServer({ ...o.tls }, handle) : http.createServer(handle);
}

/**
 * Whether a stream's caller may still read it: asked again as the request was (its token
 * revoked or expired, its RBAC taken away: 401 or 403), an API server that cannot answer
 * now not counted against it.
 */
function stillValid(authenticate: (req: IncomingMessage) => Promise<Principal>) {
  return async (req: IncomingMessage, p: Principal): Promise<boolean> => {
    try {
      const now = await authenticate(req);
      return now.name === p.name && roleAllows(now.role, 'viewer');
    } catch (err) {
      return !(err instanceof HttpError && (err.status === 401 || err.status === 403));
    }
  };
}
