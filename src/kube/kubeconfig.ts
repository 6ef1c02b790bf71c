/**
 * Where the API server is and how to talk to it, as kubectl finds out: `--kubeconfig`, else
 * $KUBECONFIG (a colon-separated list, merged), else ~/.kube/config, else the pod's service
 * account when kanari runs in a cluster. Every problem is one line naming the file and the
 * field, found when the connection is loaded, not at the first request.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { describeSystemError } from '../shared/system.js';
import {
  checkExecConfig,
  execCredential,
  fixedCredential,
  tokenFileCredential,
  type Credential,
  type CredentialSource,
} from './credentials.js';
import {
  displayPath,
  KubeConfigError,
  readKubeconfigs,
  type ClusterEntry,
  type MergedKubeconfig,
  type Named,
  type UserEntry,
} from './kubeconfig-file.js';

export { KubeConfigError } from './kubeconfig-file.js';

export interface KubeConnection {
  /** `https://host:port`, with the path prefix of a proxy in front of the API server if any; no trailing slash. */
  server: string;
  /** The namespace commands act in when none is given. */
  namespace: string;
  tls: {
    /** PEM of the certificate authorities the server's certificate is checked against; Node's own when absent. */
    ca?: string;
    /** Accept any certificate (`insecure-skip-tls-verify`). */
    insecure: boolean;
    /** The name the server's certificate is checked for, when not the host of `server`. */
    serverName?: string;
  };
  credentials: CredentialSource;
  /** `context "prod" of ~/.kube/config`, or `the in-cluster service account`: for messages. */
  origin: string;
  /** The kubeconfig's name for the user (`alice@prod`): who a person's command says it is from. */
  user?: string;
}

export interface KubeConnectionOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  /** Where to read $KUBECONFIG, $HOME and KUBERNETES_SERVICE_HOST/PORT from (tests). */
  env?: NodeJS.ProcessEnv;
  /** The service account directory of a pod (tests). */
  serviceAccountDir?: string;
  /** How long an exec credential plugin may take. */
  execTimeoutMs?: number;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export function loadKubeConnection(options: KubeConnectionOptions = {}): KubeConnection {
  const env = options.env ?? process.env;
  const home = env.HOME ?? homedir();
  const listed = (env.KUBECONFIG ?? '').split(':').filter(Boolean);
  const defaultFile = join(home, '.kube', 'config');
  if (options.kubeconfig) return fromKubeconfig(readKubeconfigs([options.kubeconfig], false, home), options, home);
  if (listed.length > 0) {
    const merged = readKubeconfigs(listed, true, home);
    if (merged.files.length === 0)
      throw new KubeConfigError(`none of the files $KUBECONFIG names exists: ${listed.join(', ')}`);
    return fromKubeconfig(merged, options, home);
  }
  if (existsSync(defaultFile)) return fromKubeconfig(readKubeconfigs([defaultFile], false, home), options, home);
  if (env.KUBERNETES_SERVICE_HOST) return inCluster(env, options);
  throw new KubeConfigError(
    `no kubeconfig: ${displayPath(defaultFile, home)} does not exist, $KUBECONFIG is not set, and this is not a pod (KUBERNETES_SERVICE_HOST is not set); pass --kubeconfig`,
  );
}

function fromKubeconfig(config: MergedKubeconfig, options: KubeConnectionOptions, home: string): KubeConnection {
  const files = config.files.map((file) => displayPath(file, home)).join(', ');
  const contextName = options.context ?? config.currentContext;
  if (!contextName) throw new KubeConfigError(`${files} sets no current-context; pass --context`);
  const context = config.contexts.get(contextName);
  if (!context) {
    const known = [...config.contexts.keys()];
    throw new KubeConfigError(
      `${files} has no context "${contextName}"${known.length ? ` (it has ${known.map((n) => `"${n}"`).join(', ')})` : ''}`,
    );
  }
  const where = (entry: Named<unknown>) => `${displayPath(entry.file, home)} ${entry.at}`;
  const cluster = config.clusters.get(context.value.cluster);
  if (!cluster) {
    throw new KubeConfigError(
      `context "${contextName}" names cluster "${context.value.cluster}", which ${files} does not have`,
    );
  }
  const userName = context.value.user;
  const user = userName ? config.users.get(userName) : undefined;
  if (userName && !user) {
    throw new KubeConfigError(`context "${contextName}" names user "${userName}", which ${files} does not have`);
  }
  const server = serverUrl(cluster.value.server, `${where(cluster)}.cluster.server`);
  const tls = clusterTls(cluster, where(cluster), home);
  return {
    server,
    namespace: options.namespace || context.value.namespace || 'default',
    tls,
    credentials: user ? userCredentials(user, cluster.value, server, options, home) : fixedCredential({}),
    origin: `context "${contextName}" of ${files}`,
    ...(userName ? { user: userName } : {}),
  };
}

function serverUrl(text: string, field: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new KubeConfigError(`${field}: ${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new KubeConfigError(`${field}: ${JSON.stringify(text)} is not an http or https URL`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new KubeConfigError(`${field}: ${JSON.stringify(text)} carries credentials, a query or a fragment`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function clusterTls(cluster: Named<ClusterEntry>, where: string, home: string): KubeConnection['tls'] {
  const c = cluster.value;
  const field = (name: string) => `${where}.cluster.${name}`;
  if (c['proxy-url']) throw new KubeConfigError(`${field('proxy-url')}: kanari does not connect through proxies`);
  const ca = pem(c, 'certificate-authority', cluster.file, field, home);
  const insecure = c['insecure-skip-tls-verify'] === true;
  if (ca && insecure) {
    throw new KubeConfigError(
      `${where}.cluster sets both a certificate authority and insecure-skip-tls-verify; keep one (kubectl refuses this too)`,
    );
  }
  return { ...(ca ? { ca } : {}), insecure, ...(c['tls-server-name'] ? { serverName: c['tls-server-name'] } : {}) };
}

function userCredentials(
  user: Named<UserEntry>,
  cluster: ClusterEntry,
  server: string,
  options: KubeConnectionOptions,
  home: string,
): CredentialSource {
  const u = user.value;
  const where = `${displayPath(user.file, home)} ${user.at}`;
  const field = (name: string) => `${where}.user.${name}`;
  if (u['auth-provider'] !== undefined) {
    throw new KubeConfigError(
      `${field('auth-provider')}: auth-provider plugins were removed from kubectl in 1.26; use an exec plugin (for GKE, gke-gcloud-auth-plugin; for Azure, kubelogin)`,
    );
  }
  if (u.username !== undefined || u.password !== undefined) {
    throw new KubeConfigError(
      `${field('username')}: basic authentication was removed from Kubernetes in 1.19; use a token, a client certificate or an exec plugin`,
    );
  }
  if (u.as !== undefined) throw new KubeConfigError(`${field('as')}: kanari does not impersonate other users`);
  const set = [u.token, u.tokenFile, u.exec].filter((x) => x !== undefined).length;
  if (set > 1) throw new KubeConfigError(`${where}.user sets more than one of token, tokenFile and exec; keep one`);
  const cert = pem(u, 'client-certificate', user.file, field, home);
  const key = pem(u, 'client-key', user.file, field, home);
  if (!cert !== !key) {
    throw new KubeConfigError(
      `${where}.user has a client ${cert ? 'certificate without its key' : 'key without its certificate'}`,
    );
  }
  if (cert) {
    try {
      createSecureContext({ cert, key });
    } catch (err) {
      throw new KubeConfigError(
        `${where}.user: the client certificate and key cannot be used: ${(err as Error).message}`,
      );
    }
  }
  const base: Credential = cert ? { cert, key } : {};
  if (u.tokenFile) return tokenFileCredential(resolvePath(u.tokenFile, user.file), field('tokenFile'), base);
  if (u.exec) {
    const what = `user "${user.name}" in ${displayPath(user.file, home)}`;
    checkExecConfig(u.exec, what);
    return execCredential({
      config: u.exec,
      what,
      dir: dirname(user.file),
      cluster: {
        server,
        ...(cluster['certificate-authority-data']
          ? { 'certificate-authority-data': cluster['certificate-authority-data'] }
          : {}),
        ...(cluster['insecure-skip-tls-verify'] ? { 'insecure-skip-tls-verify': true } : {}),
      },
      ...(options.execTimeoutMs ? { timeoutMs: options.execTimeoutMs } : {}),
      ...(options.env ? { env: options.env } : {}),
    });
  }
  return fixedCredential({ ...base, ...(u.token ? { token: u.token } : {}) });
}

/** A PEM given inline (`<name>-data`, base64) or as a file (relative to its kubeconfig); checked to be PEM. */
function pem(
  entry: Record<string, unknown>,
  name: string,
  file: string,
  field: (name: string) => string,
  home: string,
): string | undefined {
  const data = entry[`${name}-data`] as string | undefined;
  const path = entry[name] as string | undefined;
  let text: string;
  let from: string;
  if (data) {
    from = field(`${name}-data`);
    const compact = data.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0)
      throw new KubeConfigError(`${from}: is not base64`);
    text = Buffer.from(compact, 'base64').toString('utf8');
  } else if (path) {
    const resolved = resolvePath(path, file);
    from = field(name);
    try {
      text = readFileSync(resolved, 'utf8');
    } catch (err) {
      throw new KubeConfigError(`${from}: cannot read ${displayPath(resolved, home)}: ${describeSystemError(err)}`);
    }
  } else {
    return undefined;
  }
  if (!text.includes('-----BEGIN ')) throw new KubeConfigError(`${from}: does not hold PEM (no -----BEGIN line)`);
  return text;
}

/** kubectl resolves relative paths in a kubeconfig against the file's own directory. */
function resolvePath(path: string, file: string): string {
  return isAbsolute(path) ? path : join(dirname(file), path);
}

/** A pod's own service account, as client-go's InClusterConfig reads it. */
function inCluster(env: NodeJS.ProcessEnv, options: KubeConnectionOptions): KubeConnection {
  const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const host = env.KUBERNETES_SERVICE_HOST!;
  const port = env.KUBERNETES_SERVICE_PORT || '443';
  if (!/^\d{1,5}$/.test(port))
    throw new KubeConfigError(`KUBERNETES_SERVICE_PORT is not a port: ${JSON.stringify(port)}`);
  const read = (name: string, optional: boolean): string | undefined => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch (err) {
      if (optional) return undefined;
      throw new KubeConfigError(
        `in a pod (KUBERNETES_SERVICE_HOST is set) but cannot read ${join(dir, name)}: ${describeSystemError(err)}`,
      );
    }
  };
  const ca = read('ca.crt', false)!;
  if (!ca.includes('-----BEGIN '))
    throw new KubeConfigError(`${join(dir, 'ca.crt')} does not hold PEM (no -----BEGIN line)`);
  const credentials = tokenFileCredential(join(dir, 'token'), 'the service account token');
  // Read now so a pod without its token fails at start, not at the first request.
  read('token', false);
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    namespace: options.namespace || read('namespace', true)?.trim() || 'default',
    tls: { ca, insecure: false },
    credentials,
    origin: 'the in-cluster service account',
  };
}
