/**
 * The objects kanari runs each version in: a Deployment and a Service named
 * `<rollout>-<instance id>`, selected by `{kanari.dev/rollout, kanari.dev/version}` and
 * labelled as kanari's. The deployment target creates them; the traffic routers name them
 * (an instance's Service) and the replicas router scales them, so the rules live here once.
 */
import { instanceName } from '../config/presets/counts.js';
import { describeRef, type KubeClient, type KubeObject, type ObjectRef } from './api.js';
import { updateObject } from './update.js';

export const ROLLOUT_LABEL = 'kanari.dev/rollout';
export const VERSION_LABEL = 'kanari.dev/version';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'kanari';

/** A Service name is an RFC 1035 label: it must start with a letter, and be at most 63 characters. */
const SERVICE_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A label value: at most 63 characters, alphanumerics at both ends, `-_.` inside. */
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

/** The name of a version's Deployment and Service; throws a readable error when Kubernetes would refuse it. */
export function versionObjectName(rollout: string, id: string): string {
  const name = instanceName(rollout, id);
  if (!SERVICE_NAME.test(name))
    throw new Error(
      `"${name}" (rollout "${rollout}", version "${id}") cannot name a Service: it must be a lowercase RFC 1035 label of at most 63 characters`,
    );
  if (!LABEL_VALUE.test(id)) throw new Error(`version "${id}" cannot be a label value (at most 63 characters)`);
  return name;
}

/** The labels that select one version's pods (its Deployment's selector and its Service's). */
export function versionSelector(rollout: string, id: string): Record<string, string> {
  return { [ROLLOUT_LABEL]: rollout, [VERSION_LABEL]: id };
}

/** The labels on every object kanari creates for a version. */
export function versionLabels(rollout: string, id: string): Record<string, string> {
  return { [MANAGED_BY_LABEL]: MANAGED_BY, ...versionSelector(rollout, id) };
}

/** Whether kanari made `object` for this rollout (and, given `ownerUid`, for this very Rollout object). */
export function isKanaris(object: KubeObject, rollout: string, ownerUid?: string): boolean {
  const labels = object.metadata.labels ?? {};
  if (labels[MANAGED_BY_LABEL] !== MANAGED_BY || labels[ROLLOUT_LABEL] !== rollout) return false;
  if (ownerUid === undefined) return true;
  const owners = Array.isArray(object.metadata.ownerReferences) ? object.metadata.ownerReferences : [];
  return owners.some((o) => (o as { uid?: unknown } | null)?.uid === ownerUid);
}

/** A Deployment's progress, read defensively: a status a user or a broken controller wrote is data, not trust. */
export interface DeploymentProgress {
  /** `spec.replicas` (1 when unset, as the API server defaults it). */
  wanted: number;
  ready: number;
  /** Pods of any state the Deployment still has (terminating ones on a shrink included). */
  existing: number;
  /** The controller has seen the latest spec. */
  observed: boolean;
  /** Why it will not get there on its own: the Progressing condition's message on ProgressDeadlineExceeded. */
  stuck?: string;
}

export function deploymentProgress(deployment: KubeObject): DeploymentProgress {
  const spec = record(deployment.spec);
  const status = record(deployment.status);
  const generation = count(deployment.metadata.generation);
  const conditions = Array.isArray(status.conditions) ? status.conditions.map(record) : [];
  const progressing = conditions.find((c) => c.type === 'Progressing');
  const stuck =
    progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded'
      ? `${typeof progressing.message === 'string' ? progressing.message : 'no progress'} (ProgressDeadlineExceeded)`
      : undefined;
  return {
    wanted: spec.replicas === undefined ? 1 : count(spec.replicas),
    ready: count(status.readyReplicas),
    existing: count(status.replicas),
    observed: count(status.observedGeneration) >= generation,
    ...(stuck ? { stuck } : {}),
  };
}

/**
 * Sets a version Deployment's `spec.replicas` at the version read, refusing one that is not
 * kanari's for this rollout (the name is a guess anyone could have taken).
 */
export async function scaleVersion(
  client: KubeClient,
  ref: ObjectRef,
  rollout: string,
  replicas: number,
): Promise<void> {
  await updateObject(client, ref, (current) => {
    if (!isKanaris(current, rollout)) throw new Error(`${describeRef(ref)} is not kanari's: it will not be scaled`);
    const spec = record(current.spec);
    if (spec.replicas === replicas) return undefined;
    return { ...current, spec: { ...spec, replicas } };
  });
}

export function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** A non-negative integer field, or 0 for anything else (absent, negative, a string). */
function count(value: unknown): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : 0;
}
