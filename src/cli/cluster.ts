/**
 * The options that point a command at a cluster instead of a standalone controller, parsed
 * in one place for every command that works against either (status, promote, abort,
 * pause, resume, retry, undo, history): `--kubeconfig`, `--context`, `--namespace`/`-n`,
 * as kubectl spells them, so `kubectl kanari status -n shop checkout` reads as it would.
 * Run as `kubectl kanari`, a command needs none of them: bin/kubectl-kanari sets
 * KANARI_CLUSTER=1, and the current context is used as kubectl would use it.
 */
import { k8sLabel, k8sName } from '../config/schemas/kubernetes.js';
import { KubeError } from '../kube/api.js';
import { kubeClient, type HttpKubeClient } from '../kube/http-client.js';
import { loadKubeConnection } from '../kube/kubeconfig.js';
import { CommandError, UsageError } from './exit.js';

/** Set to 1 (by the kubectl plugin, or by hand): commands act on the kubeconfig's current context without a flag. */
export const CLUSTER_ENV = 'KANARI_CLUSTER';

export const CLUSTER_OPTIONS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
} as const;

export const CLUSTER_HELP = `Against a cluster (the kanari operator runs the rollout; any of these selects it):
  --kubeconfig FILE     the kubeconfig to read (default $KUBECONFIG, else ~/.kube/config)
  --context NAME        a context of that kubeconfig (default its current-context)
  -n, --namespace NS    the Rollout's namespace (default the context's namespace, else default)
  (run as \`kubectl kanari\`, or with KANARI_CLUSTER=1, the current context is used without them)`;

/** Where a command finds the cluster: what loadKubeConnection (src/kube/kubeconfig.ts) takes. */
export interface ClusterTarget {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

/**
 * The cluster a command's parsed options point at, or undefined when they name none (the
 * command talks to a standalone controller) and KANARI_CLUSTER is not 1 (or --state is
 * given). Values are checked here so every command refuses the same mistakes with the same words.
 */
export function clusterTarget(
  command: string,
  values: { kubeconfig?: string; context?: string; namespace?: string; state?: string },
  env: NodeJS.ProcessEnv = process.env,
): ClusterTarget | undefined {
  const { kubeconfig, context, namespace } = values;
  if (kubeconfig === undefined && context === undefined && namespace === undefined)
    return env[CLUSTER_ENV] === '1' && values.state === undefined ? {} : undefined;
  if (values.state !== undefined)
    throw new UsageError(
      `${command}: --state names a standalone controller, and --kubeconfig, --context and --namespace a cluster; give one or the other`,
    );
  if (kubeconfig !== undefined && kubeconfig.trim() === '')
    throw new UsageError(`${command}: --kubeconfig must name a file`);
  if (context !== undefined && context.trim() === '') throw new UsageError(`${command}: --context must name a context`);
  if (namespace !== undefined && !k8sLabel.safeParse(namespace).success)
    throw new UsageError(
      `${command}: --namespace must be a namespace name: lowercase letters, digits and dashes, at most 63 (got ${JSON.stringify(namespace)})`,
    );
  return {
    ...(kubeconfig !== undefined ? { kubeconfig } : {}),
    ...(context !== undefined ? { context } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
  };
}

/** A Rollout's name as given on the command line, refused before any request when it cannot be one. */
export function rolloutName(command: string, name: string): string {
  const checked = k8sName.safeParse(name);
  if (!checked.success)
    throw new UsageError(
      `${command}: a Rollout's name ${checked.error.issues[0]!.message} (got ${JSON.stringify(name)})`,
    );
  return name;
}

/** A client for the cluster a command acts on, and who and where it acts as. */
export interface Cluster {
  client: HttpKubeClient;
  namespace: string;
  /** The kubeconfig's user name, when it names one. */
  user?: string;
  /** `context "prod" of ~/.kube/config`: for messages. */
  origin: string;
}

export function openCluster(target: ClusterTarget, limits: { timeoutMs?: number } = {}): Cluster {
  const conn = loadKubeConnection(target);
  return {
    client: kubeClient(conn, limits),
    namespace: conn.namespace,
    ...(conn.user ? { user: conn.user } : {}),
    origin: conn.origin,
  };
}

/**
 * Runs one request of a command, saying what RBAC refused in terms a person can take to
 * whoever grants it: the verb, the resource and the namespace.
 */
export async function asking<T>(
  verb: 'get' | 'list' | 'watch' | 'patch',
  where: { namespace: string; origin: string },
  request: () => Promise<T>,
): Promise<T> {
  try {
    return await request();
  } catch (err) {
    if (err instanceof KubeError && (err.status === 403 || err.status === 401))
      throw new CommandError(
        err.status === 403
          ? `not allowed to ${verb} rollouts.kanari.dev in namespace ${where.namespace} (${where.origin}): ${err.message}. kanari's commands need get, list, watch and patch on rollouts.kanari.dev (docs/kubernetes/cli.md)`
          : `the API server did not accept the credentials of ${where.origin}: ${err.message}`,
      );
    throw err;
  }
}
