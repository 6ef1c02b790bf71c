/** What both importers take from the command line, and the metadata they carry. */
import type { Field } from './source.js';

export interface ImportOptions {
  /** The Service users reach, when the source does not name one. */
  service?: string;
  /** Where Flagger's built-in metrics are read (Flagger's own -metrics-server flag, not in the Canary). */
  prometheus: string;
  /** Flagger's mesh provider when the Canary names none (Flagger's -mesh-provider flag). */
  meshProvider: string;
}

export const DEFAULT_OPTIONS: ImportOptions = { prometheus: 'http://prometheus:9090', meshProvider: 'istio' };

/** Name, namespace and labels; what the cluster or other tools wrote is not the new object's. */
export function importedMetadata(root: Field): { name: string; namespace?: string; labels?: Record<string, string> } {
  const meta = root.get('metadata').map();
  const name = meta.get('name').str();
  if (!name) throw root.doc.error(['metadata'], 'has no name');
  const out: { name: string; namespace?: string; labels?: Record<string, string> } = { name };
  const namespace = meta.get('namespace').str();
  if (namespace) out.namespace = namespace;
  if (meta.has('labels')) out.labels = meta.get('labels').strings();
  const CLUSTER = 'written by the cluster, not part of the object; dropped';
  meta.rest({
    annotations: "the source's annotations (notifications, tools) are not the kanari Rollout's; dropped",
    uid: CLUSTER,
    resourceVersion: CLUSTER,
    generation: CLUSTER,
    creationTimestamp: CLUSTER,
    managedFields: CLUSTER,
    finalizers: CLUSTER,
    ownerReferences: CLUSTER,
  });
  return out;
}

/** A template's name; kanari templates are applied with the Rollout that uses them, so nothing else of its metadata goes. */
export function templateMetadata(root: Field): void {
  root.doc.used = true;
  root.get('apiVersion');
  root.get('kind');
  const meta = root.get('metadata').map();
  meta.get('name');
  root.get('spec');
  meta.rest({
    namespace: 'kanari templates are applied with the Rollout that uses them; dropped',
    labels: "the source's labels are not the kanari template's; dropped",
    annotations: "the source's annotations are not the kanari template's; dropped",
  });
  root.rest();
}
