/**
 * A version run on Kubernetes: the pod template the release began with, run by a
 * Deployment kanari owns (src/targets/kubernetes.ts). Kept apart from kubernetes.ts, which
 * imports the Rollout schema that imports this.
 */
import { z } from 'zod';

const label = z
  .string()
  .regex(
    /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
    'must be lowercase letters, digits and dashes (at most 63), starting and ending with a letter or digit',
  );

export const kubernetesTarget = z.strictObject({
  /** The referenced Deployment's `spec.template`, as it was when the release began. */
  template: z.record(z.string(), z.unknown()),
  /** The Service users reach; each version's own Service copies its ports and selector. */
  service: label,
  namespace: label,
  /** Pods at full strength. */
  replicas: z.number().int().min(0).max(10_000).default(1),
});
export type KubernetesTarget = z.output<typeof kubernetesTarget>;
