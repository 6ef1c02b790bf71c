/**
 * What installs kanari on a cluster, as objects (`kanari k8s manifests` prints them): the
 * CRDs, the operator's ServiceAccount, its permissions — each verb granted for a reason
 * given beside it, nothing more — and its Deployment. docs/kubernetes/manifests.md says
 * the same per verb; a change here changes that table.
 */
import type { KubeObject } from './api.js';
import { analysisTemplateCrd, CRD_GROUP, rolloutCrd } from './crd.js';

export interface ManifestOptions {
  /** kanari's version: the default image's tag. */
  version: string;
  /** The operator's image; default `ghcr.io/kanari-dev/kanari:<version>`, a placeholder (none is published). */
  image?: string;
  /** Watch only this namespace, with a Role there, and run the operator in it; default every namespace. */
  namespace?: string;
}

export const OPERATOR = 'kanari-operator';
/** The Secret that holds the API's tokens (their hashes), in the operator's namespace. */
export const TOKENS_SECRET = 'kanari-api-tokens';
/** The Secret that holds the dashboard's browser sessions (their hashes), beside it. */
export const SESSIONS_SECRET = 'kanari-api-sessions';
/** Where the operator runs when it watches every namespace. */
export const SYSTEM_NAMESPACE = 'kanari-system';

const MANAGED = { 'app.kubernetes.io/managed-by': 'kanari', 'app.kubernetes.io/name': OPERATOR };

interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  /** Only these objects (never with create, which names no object yet). */
  resourceNames?: string[];
  verbs: string[];
}

/** What the operator does in the namespaces of the Rollouts it runs. */
export const ROLLOUT_RULES: PolicyRule[] = [
  // Watch Rollouts (the informer lists, then watches); update/patch: its finalizer and annotations. Never create or delete: users own them.
  { apiGroups: [CRD_GROUP], resources: ['rollouts'], verbs: ['get', 'list', 'watch', 'update', 'patch'] },
  // Version Deployments name their Rollout as owner with blockOwnerDeletion, which OwnerReferencesPermissionEnforcement allows only to who may update its finalizers.
  { apiGroups: [CRD_GROUP], resources: ['rollouts/finalizers'], verbs: ['update'] },
  // The status subresource is where every transition is saved: written at a resourceVersion.
  { apiGroups: [CRD_GROUP], resources: ['rollouts/status'], verbs: ['get', 'update', 'patch'] },
  // The AnalysisTemplates Rollouts name: read (listed, then watched) as a release starts, never written.
  { apiGroups: [CRD_GROUP], resources: ['analysistemplates'], verbs: ['get', 'list', 'watch'] },
  // One Deployment per version, created, scaled and removed by kanari; the user's is read and kept at 0 replicas.
  {
    apiGroups: ['apps'],
    resources: ['deployments'],
    verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
  },
  // One Service per version beside the user's, created and removed with its Deployment; the user's narrowed to stable (update).
  { apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
  // Users' HTTPRoutes and Istio objects: kanari edits its own parts of them and never creates or deletes one.
  {
    apiGroups: ['gateway.networking.k8s.io'],
    resources: ['httproutes'],
    verbs: ['get', 'list', 'watch', 'update', 'patch'],
  },
  {
    apiGroups: ['networking.istio.io'],
    resources: ['virtualservices', 'destinationrules'],
    verbs: ['get', 'list', 'watch', 'update', 'patch'],
  },
  // The nginx router creates the canary Ingress beside the user's and deletes it when the release ends.
  {
    apiGroups: ['networking.k8s.io'],
    resources: ['ingresses'],
    verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
  },
  // An Event per transition on the Rollout (patch: the API server counts repeats into one).
  { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
  // Each Rollout's event log and history, in a ConfigMap beside it (kubernetes/history.md); every API replica reads them.
  { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'create', 'update'] },
];

/** Leader election, in the operator's own namespace only: one Lease, read, taken and renewed. */
export const LEASE_RULES: PolicyRule[] = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
];

/** The API's tokens and browser sessions (`kanari operator --api`): the two Secrets these manifests make, read and written, no other. */
export const TOKEN_RULES: PolicyRule[] = [
  {
    apiGroups: [''],
    resources: ['secrets'],
    resourceNames: [TOKENS_SECRET, SESSIONS_SECRET],
    verbs: ['get', 'update'],
  },
];

/**
 * What is cluster-scoped: the installed HTTPRoute CRD says which fields its version has
 * (rule names, mirror percent); the API asks who a Kubernetes token is (TokenReview) and
 * what RBAC lets them do to Rollouts (SubjectAccessReview).
 */
export const CLUSTER_RULES: PolicyRule[] = [
  { apiGroups: ['apiextensions.k8s.io'], resources: ['customresourcedefinitions'], verbs: ['get'] },
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
];

/**
 * What people may do, added to Kubernetes' own `view`, `edit` and `admin` ClusterRoles by
 * aggregation (as Argo Rollouts ships them): whoever may view a namespace may read its
 * Rollouts, templates and Events (`kanari status`, `history`); whoever may edit it may also
 * steer its rollouts (`kanari promote`… patch the command annotation) and write them.
 */
export const VIEW_RULES: PolicyRule[] = [
  { apiGroups: [CRD_GROUP], resources: ['rollouts', 'analysistemplates'], verbs: ['get', 'list', 'watch'] },
];
export const EDIT_RULES: PolicyRule[] = [
  {
    apiGroups: [CRD_GROUP],
    resources: ['rollouts', 'analysistemplates'],
    verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
  },
];

const meta = (name: string, namespace?: string) => ({
  name,
  ...(namespace ? { namespace } : {}),
  labels: { ...MANAGED },
});

const subject = (namespace: string) => [{ kind: 'ServiceAccount', name: OPERATOR, namespace }];

function binding(kind: 'ClusterRoleBinding' | 'RoleBinding', role: string, ns: string, at?: string): KubeObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata: meta(role, at),
    roleRef: {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: kind === 'RoleBinding' ? 'Role' : 'ClusterRole',
      name: role,
    },
    subjects: subject(ns),
  };
}

function role(kind: 'ClusterRole' | 'Role', name: string, rules: PolicyRule[], at?: string): KubeObject {
  return { apiVersion: 'rbac.authorization.k8s.io/v1', kind, metadata: meta(name, at), rules };
}

/** A ClusterRole that Kubernetes folds into its built-in ones named `into` (view, edit, admin). */
function aggregated(name: string, rules: PolicyRule[], into: string[]): KubeObject {
  const r = role('ClusterRole', name, rules);
  const labels = Object.fromEntries(into.map((k) => [`rbac.authorization.k8s.io/aggregate-to-${k}`, 'true']));
  return { ...r, metadata: { ...r.metadata, labels: { ...(r.metadata.labels ?? {}), ...labels } } };
}

/** Every object, in the order `kubectl apply` needs them (the CRDs and the namespace first). */
export function installManifests(options: ManifestOptions): KubeObject[] {
  const ns = options.namespace ?? SYSTEM_NAMESPACE;
  const scoped = options.namespace !== undefined;
  const image = options.image ?? `ghcr.io/kanari-dev/kanari:${options.version}`;
  return [
    rolloutCrd(),
    analysisTemplateCrd(),
    // With --namespace the namespace is the user's and exists already.
    ...(scoped ? [] : [{ apiVersion: 'v1', kind: 'Namespace', metadata: meta(ns) }]),
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(OPERATOR, ns) },
    ...(scoped
      ? [role('Role', OPERATOR, ROLLOUT_RULES, ns), binding('RoleBinding', OPERATOR, ns, ns)]
      : [role('ClusterRole', OPERATOR, ROLLOUT_RULES), binding('ClusterRoleBinding', OPERATOR, ns)]),
    role('Role', `${OPERATOR}-leader`, LEASE_RULES, ns),
    binding('RoleBinding', `${OPERATOR}-leader`, ns, ns),
    // Made empty here, so the operator needs no right to create Secrets; a second apply keeps the tokens in it.
    { apiVersion: 'v1', kind: 'Secret', metadata: meta(TOKENS_SECRET, ns), type: 'Opaque' },
    { apiVersion: 'v1', kind: 'Secret', metadata: meta(SESSIONS_SECRET, ns), type: 'Opaque' },
    role('Role', `${OPERATOR}-api-tokens`, TOKEN_RULES, ns),
    binding('RoleBinding', `${OPERATOR}-api-tokens`, ns, ns),
    role('ClusterRole', `${OPERATOR}-crds`, CLUSTER_RULES),
    binding('ClusterRoleBinding', `${OPERATOR}-crds`, ns),
    aggregated('kanari-aggregate-to-view', VIEW_RULES, ['view']),
    aggregated('kanari-aggregate-to-edit', EDIT_RULES, ['edit', 'admin']),
    operatorDeployment(ns, image, scoped),
  ];
}

/**
 * Two replicas: one holds the Lease and acts, the other waits to take over, so a node loss
 * costs seconds of no decisions, never two writers. Probes: the process answers (liveness),
 * and it has reached the API server (readiness) — the standby is ready too.
 */
function operatorDeployment(ns: string, image: string, scoped: boolean): KubeObject {
  const selector = { 'app.kubernetes.io/name': OPERATOR };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(OPERATOR, ns),
    spec: {
      replicas: 2,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: { ...MANAGED } },
        spec: {
          serviceAccountName: OPERATOR,
          securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
          affinity: {
            // Apart on two nodes where there are two, so one node's loss leaves a replica to take the Lease.
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                {
                  weight: 100,
                  podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selector } },
                },
              ],
            },
          },
          containers: [
            {
              name: 'operator',
              image,
              args: ['operator', ...(scoped ? ['--namespace', ns] : [])],
              env: [
                // The Lease names its holder by pod, so a hand-over is visible in `kubectl get lease`.
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
              ],
              ports: [{ name: 'http', containerPort: 8080 }],
              livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10, failureThreshold: 3 },
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5 },
              resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
        },
      },
    },
  };
}
