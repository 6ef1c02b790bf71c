/**
 * One `kind: Rollout`, two modes: standalone (kanari runs the versions and its own router)
 * and Kubernetes (the operator releases a Deployment through the cluster's router). The
 * mode is read from one field, `spec.workloadRef`, before the document is validated, so a
 * field of the other mode is refused saying which mode the file is in, not as an unknown key.
 */
import type { z } from 'zod';
import { kubernetesRolloutDocument, type KubernetesRolloutDocument } from './schemas/kubernetes.js';
import { rolloutDocument, type RolloutDocument } from './schemas/rollout.js';

export type RolloutMode = 'standalone' | 'kubernetes';

/** Fields only a standalone Rollout has, and why a Kubernetes one does without. */
const STANDALONE_ONLY: Record<string, string> = {
  listen: "users reach spec.service through the cluster's router, named in spec.trafficRouting",
  stable: 'each version is the pod template of the Deployment named in spec.workloadRef',
  canary: 'each version is the pod template of the Deployment named in spec.workloadRef',
  baseline: 'the baseline is a copy of the stable pod template, which kanari makes itself',
};

/** Fields only a Kubernetes Rollout has. */
const KUBERNETES_ONLY = ['workloadRef', 'service', 'trafficRouting', 'replicas', 'metrics'];

const specOf = (value: unknown): Record<string, unknown> | undefined => {
  const spec = (value as { spec?: unknown } | null)?.spec;
  return spec !== null && typeof spec === 'object' && !Array.isArray(spec)
    ? (spec as Record<string, unknown>)
    : undefined;
};

export function rolloutModeOf(value: unknown): RolloutMode {
  return specOf(value)?.workloadRef !== undefined ? 'kubernetes' : 'standalone';
}

export function rolloutSchemaFor(value: unknown): z.ZodType {
  return rolloutModeOf(value) === 'kubernetes' ? kubernetesRolloutDocument : rolloutDocument;
}

/** A loaded Rollout of either mode; `workloadRef` tells them apart. */
export type AnyRolloutDocument = RolloutDocument | KubernetesRolloutDocument;

export function isKubernetesRollout(doc: AnyRolloutDocument): doc is KubernetesRolloutDocument {
  return 'workloadRef' in doc.spec;
}

/** Each field of the other mode in a Rollout's spec, with a message that says which mode the file is in. */
export function otherModeFields(value: unknown): { path: string[]; message: string }[] {
  const spec = specOf(value);
  if (!spec) return [];
  if (rolloutModeOf(value) === 'kubernetes')
    return Object.keys(spec)
      .filter((key) => Object.hasOwn(STANDALONE_ONLY, key))
      .map((key) => ({
        path: ['spec', key],
        message: `is a field of a standalone Rollout, and this one is a Kubernetes Rollout (it has spec.workloadRef): ${STANDALONE_ONLY[key]}`,
      }));
  return Object.keys(spec)
    .filter((key) => KUBERNETES_ONLY.includes(key))
    .map((key) => ({
      path: ['spec', key],
      message: `is a field of a Kubernetes Rollout, and this one is standalone (it has no spec.workloadRef): name the Deployment to release in spec.workloadRef to run it on Kubernetes, or drop ${key}`,
    }));
}
