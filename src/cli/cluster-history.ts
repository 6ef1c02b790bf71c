/**
 * `kanari history ROLLOUT` on a cluster: the Events the operator wrote on the Rollout (one
 * per transition, and the give-back steps of a deletion), oldest first. Kubernetes keeps
 * Events for an hour by default (the API server's --event-ttl), so this is recent history,
 * not the whole log `kanari up` keeps.
 */
import { printable } from '../config/errors.js';
import type { KubeObject } from '../kube/api.js';
import { CommandError } from './exit.js';
import type { Cluster } from './cluster.js';
import { getRollout } from './cluster-status.js';
import { KubeError } from '../kube/api.js';

export interface HistoryLine {
  at: string;
  type: string;
  reason: string;
  message: string;
}

/** The Rollout's Events, oldest first, the last `limit` of them. */
export async function clusterHistory(cluster: Cluster, name: string, limit: number): Promise<HistoryLine[]> {
  const rollout = await getRollout(cluster, name);
  let items: KubeObject[];
  try {
    // A real API server filters by the involved object; the filter below also holds where one does not.
    ({ items } = await cluster.client.list('v1', 'Event', cluster.namespace, {
      fieldSelector: `involvedObject.kind=Rollout,involvedObject.name=${name}`,
    }));
  } catch (err) {
    if (err instanceof KubeError && err.status === 403)
      throw new CommandError(
        `not allowed to list events in namespace ${cluster.namespace} (${cluster.origin}): ${err.message}; kanari history on a cluster reads the Rollout's Events`,
      );
    throw err;
  }
  const uid = rollout.metadata.uid;
  return (
    items
      .filter((e) => {
        const about = (e as { involvedObject?: { kind?: unknown; name?: unknown; uid?: unknown } }).involvedObject;
        // Events about an earlier Rollout of the same name (deleted, created again) are not this one's.
        return about?.kind === 'Rollout' && about.name === name && (!uid || !about.uid || about.uid === uid);
      })
      // Within a second, by name: client-go's and kanari's Event names end in the time in hex.
      .sort((a, b) => lineOf(a).at.localeCompare(lineOf(b).at) || a.metadata.name.localeCompare(b.metadata.name))
      .map(lineOf)
      .slice(-limit)
  );
}

/** An Event as a line; anything a person may have written into it is shown as text. */
function lineOf(e: KubeObject): HistoryLine {
  const o = e as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' ? printable(v) : '');
  const at = text(o.lastTimestamp) || text(o.eventTime) || text(o.firstTimestamp) || text(e.metadata.creationTimestamp);
  return { at, type: text(o.type), reason: text(o.reason), message: text(o.message) };
}

export function drawHistory(lines: HistoryLine[]): string {
  return lines
    .map((l) => `${l.at.replace('T', ' ').slice(0, 19)}  ${l.type.padEnd(7)} ${l.reason}: ${l.message}`)
    .join('\n');
}
