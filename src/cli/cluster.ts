/**
 * The options that point a command at a cluster instead of a standalone controller, parsed
 * in one place for every command that works against either (status, promote, abort,
 * pause, resume, retry, undo, history): `--kubeconfig`, `--context`, `--namespace`/`-n`,
 * as kubectl spells them, so `kubectl kanari status -n shop checkout` reads as it would.
 */
import { k8sLabel } from '../config/schemas/kubernetes.js';
import { UsageError } from './exit.js';

export const CLUSTER_OPTIONS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
} as const;

export const CLUSTER_HELP = `Against a cluster (the kanari operator runs the rollout; any of these selects it):
  --kubeconfig FILE     the kubeconfig to read (default $KUBECONFIG, else ~/.kube/config)
  --context NAME        a context of that kubeconfig (default its current-context)
  -n, --namespace NS    the Rollout's namespace (default the context's namespace, else default)`;

/** Where a command finds the cluster: what loadKubeConnection (src/kube/kubeconfig.ts) takes. */
export interface ClusterTarget {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

/**
 * The cluster a command's parsed options point at, or undefined when they name none (the
 * command talks to a standalone controller). Values are checked here so every command
 * refuses the same mistakes with the same words.
 */
export function clusterTarget(
  command: string,
  values: { kubeconfig?: string; context?: string; namespace?: string; state?: string },
): ClusterTarget | undefined {
  const { kubeconfig, context, namespace } = values;
  if (kubeconfig === undefined && context === undefined && namespace === undefined) return undefined;
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
