/**
 * `kanari operator`: runs Kubernetes mode against a cluster — in a pod (its service
 * account) or from a laptop (a kubeconfig). Serves /healthz and /readyz for the pod's
 * probes; stops on SIGTERM or SIGINT, giving the lease up so another replica leads at once.
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { createServer } from 'node:http';
import type https from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { MAX_TIMER_MS, parseDuration } from '../config/duration.js';
import { parseHostPort } from '../config/schemas/common.js';
import { kubeClient, type HttpKubeClient } from '../kube/http-client.js';
import { loadKubeConnection, type KubeConnection } from '../kube/kubeconfig.js';
import { kubernetesWorld } from '../operator/compose.js';
import { Operator } from '../operator/operator.js';
import { CLUSTER_TOKEN_HINT, createClusterApiServer } from '../server/cluster-api.js';
import { ClusterLogs } from '../server/cluster-log.js';
import { KubeAccess } from '../server/kube-access.js';
import { SealedFlows, type OidcSignIn } from '../server/oidc.js';
import { Sessions } from '../server/sessions.js';
import { Tokens } from '../server/tokens.js';
import { listenOrExplain } from '../shared/system.js';
import { KubernetesSessionRows, SESSIONS_SECRET } from '../store/kubernetes-sessions.js';
import { KubernetesTokenRows, TOKENS_SECRET } from '../store/kubernetes-tokens.js';
import { parseCommandArgs } from './args.js';
import { CLUSTER_HELP, CLUSTER_OPTIONS, clusterTarget, type ClusterTarget } from './cluster.js';
import { ClusterRollouts } from './operator-api.js';
import { bindingOf, type Binding } from './binding.js';
import { EXIT, UsageError } from './exit.js';
import { singleSignOn } from './oidc-file.js';

export const summary = 'run Kubernetes mode: watch Rollout resources and carry them out (one leader at a time)';

const HELP = `Usage: kanari operator [--namespace NS] [--lease-namespace NS] [--identity ID] [--listen HOST:PORT]
                       [--api HOST:PORT [--tls-cert FILE --tls-key FILE] [--insecure] [--oidc FILE]
                                        [--secure-cookies] [--token-audience AUD]...]

Watches Rollout resources (every namespace, or only --namespace) and the Deployments they
name, and carries each rollout out: the versions in Deployments kanari owns, traffic by the
router its trafficRouting names, judged from Prometheus. Every replica takes part in leader
election on the Lease kanari-operator; only the holder acts.

  --lease-namespace NS   where the Lease is (default $POD_NAMESPACE, else the connection's namespace)
  --identity ID          this replica in the Lease (default $POD_NAME, else host name and a random suffix)
  --listen HOST:PORT     /healthz and /readyz for probes (default 0.0.0.0:8080; 0 for none)
  --api HOST:PORT       serve kanari's API there too (rollouts, their controls, history and events, tokens), from any replica
  --tls-cert FILE       serve the API over HTTPS with this certificate (PEM) ...
  --tls-key FILE        ... and its private key (PEM)
  --insecure            serve the API off loopback without TLS (behind a mesh or a TLS-terminating proxy)
  --oidc FILE           single sign-on for the dashboard, as kanari up --oidc takes it (redirectUrl needed)
  --secure-cookies      browsers reach the API over HTTPS through a proxy that terminates TLS: its cookies
                        are Secure and __Host- as with --tls-cert (X-Forwarded-Proto is never trusted for it)
  --token-audience AUD  take only Kubernetes tokens made for this audience (kubectl create token --audience AUD);
                        repeat it for several; default: those made for the API server, as kubectl's are
  --lease-duration D     how long a silent leader's Lease is respected (default 15s)
  --renew-deadline D     a leader that could not renew for this long stops (default 10s)
  --retry-period D       how often the Lease is renewed or tried (default 2s)
  --resync D             every rollout is reconciled at least this often (default 5s)

${CLUSTER_HELP}
  Inside a pod with none of them, the pod's service account is used.`;

function durationFlag(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0 || ms > MAX_TIMER_MS)
    throw new UsageError(`operator: ${flag} must be a duration such as 500ms, 2s or 1m (got ${JSON.stringify(text)})`);
  return ms;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('operator', argv, {
    ...CLUSTER_OPTIONS,
    'lease-namespace': { type: 'string' },
    identity: { type: 'string' },
    listen: { type: 'string' },
    api: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    insecure: { type: 'boolean' },
    oidc: { type: 'string' },
    'token-audience': { type: 'string', multiple: true },
    'secure-cookies': { type: 'boolean' },
    'lease-duration': { type: 'string' },
    'renew-deadline': { type: 'string' },
    'retry-period': { type: 'string' },
    resync: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  const target = clusterTarget('operator', values) ?? {};
  if (
    values.api === undefined &&
    (values['tls-cert'] ??
      values['tls-key'] ??
      values.insecure ??
      values.oidc ??
      values['token-audience'] ??
      values['secure-cookies']) !== undefined
  )
    throw new UsageError(
      'operator: --tls-cert, --tls-key, --insecure, --oidc, --secure-cookies and --token-audience go with --api',
    );
  const audiences = values['token-audience'] ?? [];
  // What a token's aud claim holds: any string, but one a person could read back in an error.
  for (const a of audiences)
    if (!/^[\x21-\x7e]{1,256}$/.test(a))
      throw new UsageError(
        `operator: --token-audience must be 1 to 256 printable characters without spaces (got ${JSON.stringify(a.slice(0, 80))})`,
      );
  const apiBinding =
    values.api === undefined
      ? undefined
      : bindingOf('operator', '--api', values.api, values['tls-cert'], values['tls-key'], values.insecure === true);
  // Read before any connection, so a wrong file is said at once; its flows are sealed with the sessions Secret's key (below).
  const sealing: { rows?: KubernetesSessionRows } = {};
  const oidc =
    values.oidc === undefined
      ? undefined
      : singleSignOn(values.oidc, 'operator', { flows: new SealedFlows(() => sealing.rows!.flowKey()) });
  const conn = loadKubeConnection(target);
  const client = kubeClient(conn);
  const identity = values.identity ?? process.env.POD_NAME ?? `${hostname()}-${randomBytes(3).toString('hex')}`;
  const leaseNamespace = values['lease-namespace'] ?? process.env.POD_NAMESPACE ?? conn.namespace;
  const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
  // The dashboard's sessions, and the key single sign-on's flows are sealed with, in a Secret beside the Lease.
  const sessionRows = apiBinding && new KubernetesSessionRows({ client, namespace: leaseNamespace, log });
  sealing.rows = sessionRows;
  const operator = new Operator({
    client,
    ...(target.namespace ? { namespace: target.namespace } : {}),
    leaseNamespace,
    identity,
    election: {
      leaseDurationMs: durationFlag(values['lease-duration'], '--lease-duration', 15_000),
      renewDeadlineMs: durationFlag(values['renew-deadline'], '--renew-deadline', 10_000),
      retryPeriodMs: durationFlag(values['retry-period'], '--retry-period', 2_000),
    },
    resyncMs: durationFlag(values.resync, '--resync', 5_000),
    world: (c) => kubernetesWorld(c),
    log,
  });
  const listen = values.listen ?? '0.0.0.0:8080';
  const probes = createServer((req, res) => {
    const path = req.url?.split('?')[0];
    const ok = path === '/healthz' || (path === '/readyz' && operator.reachable);
    res.writeHead(ok ? 200 : path === '/readyz' ? 503 : 404, { 'content-type': 'text/plain' });
    res.end(ok ? 'ok\n' : path === '/readyz' ? 'the API server has not answered yet\n' : 'not found\n');
  });
  if (listen !== '0') {
    const at = parseHostPort(listen);
    if (!at) throw new UsageError(`operator: --listen must be HOST:PORT (got ${JSON.stringify(listen)})`);
    await listenOrExplain(probes, at.port, at.host, '--listen');
  }
  const api =
    apiBinding &&
    sessionRows &&
    (await serveApi(apiBinding, {
      client,
      conn,
      target,
      leaseNamespace,
      log,
      sessionRows,
      audiences,
      secureCookies: values['secure-cookies'] === true,
      ...(oidc ? { oidc } : {}),
    }));
  log(
    `kanari operator ${identity}: ${conn.origin}, ${target.namespace ? `namespace ${target.namespace}` : 'every namespace'}, lease ${leaseNamespace}/kanari-operator`,
  );
  operator.start();
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log(`${signal}: stopping`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await operator.stop();
  probes.close();
  api?.close();
  api?.closeAllConnections();
  return EXIT.ok;
}

/** The API and the dashboard on `at`, its tokens and sessions in the Secrets kanari-api-tokens and kanari-api-sessions beside the Lease. */
async function serveApi(
  at: Binding,
  o: {
    client: HttpKubeClient;
    conn: KubeConnection;
    target: ClusterTarget;
    leaseNamespace: string;
    log: (line: string) => void;
    sessionRows: KubernetesSessionRows;
    audiences: string[];
    secureCookies: boolean;
    oidc?: OidcSignIn;
  },
): Promise<http.Server | https.Server> {
  const rows = new KubernetesTokenRows({ client: o.client, namespace: o.leaseNamespace, log: o.log });
  const tokens = new Tokens(rows, Date.now, CLUSTER_TOKEN_HINT);
  const sessions = new Sessions(o.sessionRows, rows);
  const where = {
    ...(o.target.namespace ? { watched: o.target.namespace } : {}),
    home: o.target.namespace ?? o.conn.namespace,
  };
  const access = new KubeAccess({
    client: o.client,
    tokens,
    secretNamespace: o.leaseNamespace,
    secretName: TOKENS_SECRET,
    audiences: o.audiences,
    ...where,
  });
  const rollouts = new ClusterRollouts({ client: o.client, ...where, origin: o.conn.origin });
  const server = createClusterApiServer({
    rollouts,
    tokens,
    // Each Rollout's history and event stream, from the ConfigMap the leader writes beside it.
    logs: new ClusterLogs({ client: o.client, locate: (ref) => rollouts.locate(ref), log: o.log }),
    authenticate: (req) => access.authenticate(req),
    browser: { sessions, ...(o.oidc ? { oidc: o.oidc } : {}) },
    ...(at.tls ? { tls: at.tls } : {}),
    secureCookies: o.secureCookies,
    log: o.log,
  });
  await listenOrExplain(server, at.port, at.host, '--api');
  o.log(
    `kanari API on ${at.tls ? 'https' : 'http'}://${at.host}:${(server.address() as AddressInfo).port} (tokens in Secret ${o.leaseNamespace}/${TOKENS_SECRET})`,
  );
  o.log(
    `the dashboard at the same address, browser sessions in Secret ${o.leaseNamespace}/${SESSIONS_SECRET}${o.oidc ? ', with single sign-on' : ''}`,
  );
  return server;
}
