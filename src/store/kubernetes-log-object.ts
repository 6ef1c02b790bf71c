/**
 * The ConfigMap that holds a Rollout's log, as a Kubernetes object: where it is, the object
 * written (kanari's labels, the Rollout as its owner so Kubernetes deletes it with the
 * Rollout, the document under LOG_KEY), and whether one found of its name is kanari's to
 * write. Pure, and apart from the writer (kubernetes-log.ts), whose concern is when and
 * over what it writes, and from the document (kubernetes-log-document.ts), which is the
 * same whatever object carries it.
 */
import type { KubeObject, ObjectRef } from '../kube/api.js';
import { LOG_KEY, logName, MANAGED_BY, writeLog, type LogDocument } from './kubernetes-log-document.js';

/** The ConfigMap beside a Rollout. */
export function logRef(rollout: KubeObject): ObjectRef {
  const namespace = rollout.metadata.namespace ?? 'default';
  return { apiVersion: 'v1', kind: 'ConfigMap', namespace, name: logName(rollout.metadata.name) };
}

/** Whether `found` is owned by this Rollout (its uid: not an older Rollout of the same name). */
export function ownedBy(found: KubeObject, rollout: KubeObject): boolean {
  return found.metadata.ownerReferences?.some((r) => r.uid === rollout.metadata.uid) === true;
}

/** Whether a ConfigMap of the log's name is kanari's: owned by this Rollout, or labelled managed by kanari. */
export function isKanaris(found: KubeObject, rollout: KubeObject): boolean {
  return (
    ownedBy(found, rollout) ||
    found.metadata.labels?.['app.kubernetes.io/managed-by'] === MANAGED_BY['app.kubernetes.io/managed-by']
  );
}

/** The ConfigMap holding `doc`, to write at `resourceVersion` (none: to create). */
export function logObject(rollout: KubeObject, doc: LogDocument, resourceVersion: string | undefined): KubeObject {
  const ref = logRef(rollout);
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: ref.name,
      namespace: ref.namespace!,
      labels: { ...MANAGED_BY, 'kanari.dev/rollout': rollout.metadata.name.slice(0, 63).replace(/[-.]+$/, '') },
      ownerReferences: [
        {
          apiVersion: rollout.apiVersion,
          kind: rollout.kind,
          name: rollout.metadata.name,
          uid: rollout.metadata.uid ?? '',
          controller: true,
        },
      ],
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    data: { [LOG_KEY]: writeLog(doc) },
  } as KubeObject;
}
