/**
 * The user's Deployment while kanari runs its pods. Once kanari's stable version serves, the
 * Deployment the Rollout references is scaled to zero, its own size kept in an annotation,
 * and scaled straight back to zero whenever someone scales it up again: its pods would all
 * run its newest template at once. From then on it is only the source of templates.
 *
 * Apart from the runner: each step here is decided by what the Deployment says alone (its
 * size, the annotation), whatever the Rollout's engine is doing; giving it back when the
 * Rollout is deleted is give-back.ts.
 */
import type { KubernetesRolloutDocument } from '../config/schemas/kubernetes.js';
import { describeRef, type KubeClient, type ObjectRef } from '../kube/api.js';
import { REPLICAS_ANNOTATION } from './give-back.js';
import type { DeploymentObject } from './release.js';

/**
 * How many pods each version runs: the Rollout's `replicas`, else the size the Deployment had
 * when kanari took it over (kept in the annotation), else its size now.
 */
export function workloadReplicas(rollout: KubernetesRolloutDocument, workload: DeploymentObject): number {
  const kept = Number(workload.metadata.annotations?.[REPLICAS_ANNOTATION]);
  return rollout.spec.replicas ?? (Number.isInteger(kept) ? kept : (workload.spec?.replicas ?? 1));
}

/**
 * Keeps the referenced Deployment at zero pods once kanari's stable serves (`taken`), and
 * whenever someone scales it up again after that: its pods would all run its newest template.
 */
export async function holdWorkload(
  client: KubeClient,
  workload: DeploymentObject,
  taken: boolean,
  log: (line: string) => void,
): Promise<void> {
  const annotations = workload.metadata.annotations ?? {};
  const held = annotations[REPLICAS_ANNOTATION] !== undefined;
  const replicas = workload.spec?.replicas ?? 1;
  if (replicas === 0 || (!held && !taken)) return;
  const ref: ObjectRef = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    namespace: workload.metadata.namespace!,
    name: workload.metadata.name,
  };
  await client.patch(ref, 'merge', {
    metadata: {
      resourceVersion: workload.metadata.resourceVersion,
      annotations: held ? {} : { [REPLICAS_ANNOTATION]: String(replicas) },
    },
    spec: { replicas: 0 },
  });
  log(
    `${held ? 'scaled back to 0' : 'took over'} ${describeRef(ref)} (it had ${replicas} replicas; kanari runs its pods now)`,
  );
}

/** Keeps the Deployment `name` at zero if kanari holds it already (its annotation says so); takes nothing over. */
export async function keepWorkloadHeld(
  client: KubeClient,
  namespace: string,
  name: unknown,
  log: (line: string) => void,
): Promise<void> {
  if (typeof name !== 'string' || name === '') return;
  const ref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace, name };
  const workload = await client.get<DeploymentObject>(ref);
  if (workload) await holdWorkload(client, workload, false, log);
}
