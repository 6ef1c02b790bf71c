/**
 * From the Kubernetes world to the engine's words: the version a pod template is (its
 * hash, or the `kanari.dev/version` label the user gave it), the release a template makes,
 * and the engine's document for a Rollout resource — the same plan as standalone, with
 * each version a `kubernetes` target (a Deployment kanari owns) instead of a process.
 */
import { createHash } from 'node:crypto';
import { rolloutDocument, type RolloutDocument } from '../config/schemas/rollout.js';
import type { KubernetesRolloutDocument } from '../config/schemas/kubernetes.js';
import type { KubeObject, OwnerReference } from '../kube/api.js';
import type { Release } from '../rollout/types.js';

/** The label that names a template's version instead of its hash (the label kanari puts on each version's pods). */
export { VERSION_LABEL } from '../kube/versions.js';
import { VERSION_LABEL } from '../kube/versions.js';

export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: unknown;
  [field: string]: unknown;
}

export type DeploymentObject = KubeObject & {
  spec?: { replicas?: number; template?: PodTemplate; paused?: boolean; selector?: unknown };
  status?: { replicas?: number; readyReplicas?: number };
};

/** JSON with object keys sorted, so the same template always hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value) ?? 'null';
}

/**
 * A template's version: its `kanari.dev/version` label, else the first 10 hex digits of
 * the SHA-256 of its canonical JSON.
 */
export function versionOf(template: PodTemplate): string {
  const named = template.metadata?.labels?.[VERSION_LABEL];
  if (named) return named;
  return createHash('sha256').update(canonical(template)).digest('hex').slice(0, 10);
}

export interface RolloutPlace {
  namespace: string;
  service: string;
  replicas: number;
}

/** The release the workload's template makes: its version, run by a Deployment of `replicas` pods. */
export function releaseOf(template: PodTemplate, place: RolloutPlace): Release {
  return {
    version: versionOf(template),
    target: {
      kubernetes: {
        template: template as Record<string, unknown>,
        service: place.service,
        namespace: place.namespace,
        replicas: place.replicas,
      },
      size: place.replicas,
    },
  };
}

/** What kanari creates for a Rollout is owned by it, and collected once it is deleted (and has given back). */
export function ownerOf(rollout: KubeObject): OwnerReference {
  return {
    apiVersion: rollout.apiVersion,
    kind: rollout.kind,
    name: rollout.metadata.name,
    uid: rollout.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The fields of a Rollout's spec that are the plan, the same in both modes. */
const PLAN_FIELDS = [
  'sticky',
  'progressDeadline',
  'analysisInterval',
  'strategy',
  'notifications',
  'webhooks',
] as const satisfies readonly (keyof KubernetesRolloutDocument['spec'])[];

/**
 * The engine's document for a Rollout resource whose stable version is `stable`, from the
 * resource's spec as written (durations as text: the schema parses them). The engine needs
 * a listener and a canary target only in standalone mode; here the listener is never
 * opened, and each release brings its own target.
 */
export function engineDocument(name: string, writtenSpec: Record<string, unknown>, stable: Release): RolloutDocument {
  const target = stable.target.kubernetes!;
  const plan = Object.fromEntries(
    PLAN_FIELDS.filter((k) => writtenSpec[k] !== undefined).map((k) => [k, writtenSpec[k]]),
  );
  return rolloutDocument.parse({
    apiVersion: 'kanari.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name },
    spec: {
      listen: 0,
      stable: { version: stable.version, kubernetes: target },
      canary: { kubernetes: target },
      // The Kubernetes routers keep no user on a version: each request is split on its own
      // (replicas: each connection, which the load-time check answers for), so the judge
      // counts requests, not users, unless the Rollout asks for affinity.
      sticky: { perRequest: true },
      ...plan,
    },
  });
}
