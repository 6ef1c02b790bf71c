/** `kanari status` against a cluster: one Rollout resource, or every one in the namespace. */
import { API_VERSION } from '../config/schemas/common.js';
import type { KubeObject } from '../kube/api.js';
import { asking, type Cluster } from './cluster.js';
import { clusterView, renderClusterView, type ClusterView } from './cluster-view.js';
import { CommandError, EXIT } from './exit.js';

/** A Rollout whose status cannot be read, listed beside the others rather than hiding them. */
export interface UnreadableView {
  name: string;
  namespace: string;
  error: string;
}

export type StatusEntry = ClusterView | UnreadableView;

export const isUnreadable = (e: StatusEntry): e is UnreadableView => 'error' in e;

export function rolloutRef(namespace: string, name: string) {
  return { apiVersion: API_VERSION, kind: 'Rollout', namespace, name };
}

/** The Rollout `name` in the cluster's namespace; exit 4 with the place looked in when there is none. */
export async function getRollout(cluster: Cluster, name: string): Promise<KubeObject> {
  const found = await asking('get', cluster, () => cluster.client.get(rolloutRef(cluster.namespace, name)));
  if (!found)
    throw new CommandError(
      `no Rollout ${name} in namespace ${cluster.namespace} (${cluster.origin}); kubectl get rollouts.kanari.dev -n ${cluster.namespace} lists them`,
      EXIT.notFound,
    );
  return found;
}

/** One Rollout's view (its problems thrown), or every Rollout's in the namespace (each unreadable one listed as such). */
export async function readStatus(cluster: Cluster, name: string | undefined): Promise<StatusEntry[]> {
  if (name) return [clusterView(await getRollout(cluster, name))];
  const { items } = await asking('list', cluster, () => cluster.client.list(API_VERSION, 'Rollout', cluster.namespace));
  return items
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map((item) => {
      try {
        return clusterView(item);
      } catch (err) {
        if (!(err instanceof CommandError)) throw err;
        return { name: item.metadata.name, namespace: cluster.namespace, error: err.message };
      }
    });
}

export function drawStatus(entries: StatusEntry[], namespace: string): string {
  if (entries.length === 0) return `no Rollouts in namespace ${namespace}`;
  return entries
    .map((e) => (isUnreadable(e) ? `${e.name}  unreadable: ${e.error}` : renderClusterView(e)))
    .join('\n\n');
}
