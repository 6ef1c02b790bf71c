/**
 * The kinds the test API server serves: the built-ins kanari and kubectl touch, each with a
 * small schema (its defaults, a few validations, and which lists merge by key under
 * server-side apply — every other list is atomic, as in the real one), and the kinds that
 * CustomResourceDefinitions add while they exist. Discovery documents are drawn from here.
 */
import type { Schema } from './schema.js';

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface Kind {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  /** Served with a status subresource: the main resource ignores status, `/status` all else. */
  status: boolean;
  /** Keeps metadata.generation (workloads, Ingress, CRDs and custom resources; not ConfigMaps, Services, Leases…). */
  generation: boolean;
  /** Serves `/scale` (autoscaling/v1 Scale over spec.replicas). */
  scale: boolean;
  shortNames: string[];
  /** Groups kubectl can name together: `kubectl get all`. */
  categories: string[];
  schema: Schema;
  printerColumns?: PrinterColumn[];
  /** The CustomResourceDefinition that serves it; undefined for a built-in. */
  crd?: string;
  /** A review (TokenReview, SubjectAccessReview): only created, answered at once, never stored. */
  review?: boolean;
}

export const apiVersionOf = (k: Pick<Kind, 'group' | 'version'>): string =>
  k.group ? `${k.group}/${k.version}` : k.version;

const open = (properties: Record<string, Schema> = {}, extra: Schema = {}): Schema => ({
  type: 'object',
  'x-kubernetes-preserve-unknown-fields': true,
  properties,
  ...extra,
});
const mapList = (keys: string[], items: Schema = open()): Schema => ({
  type: 'array',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': keys,
  items,
});
const labels: Schema = { type: 'object', additionalProperties: { type: 'string' } };

/** What every object's metadata holds, as the real ObjectMeta merges it. */
export const metadataSchema: Schema = open({
  labels,
  annotations: labels,
  finalizers: { type: 'array', 'x-kubernetes-list-type': 'set', items: { type: 'string' } },
  ownerReferences: mapList(['uid'], open({}, { required: ['apiVersion', 'kind', 'name', 'uid'] })),
});

const conditions = mapList(['type']);
const port = (key: string): Schema =>
  mapList([key, 'protocol'], open({ protocol: { type: 'string', default: 'TCP' } }));
const container = open({ ports: port('containerPort'), env: mapList(['name']), volumeMounts: mapList(['mountPath']) });
const podSpec = open({
  containers: mapList(['name'], container),
  initContainers: mapList(['name'], container),
  volumes: mapList(['name']),
});
const template = open({ metadata: metadataSchema, spec: podSpec });

const selector = open({ matchLabels: labels });
const deploymentSpec = open(
  {
    replicas: { type: 'integer', minimum: 0, default: 1 },
    selector,
    template,
    paused: { type: 'boolean' },
    revisionHistoryLimit: { type: 'integer', minimum: 0, default: 10 },
    progressDeadlineSeconds: { type: 'integer', minimum: 1, default: 600 },
    strategy: open(
      {},
      { default: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } } },
    ),
  },
  { required: ['selector', 'template'] },
);

function root(spec?: Schema, status?: Schema, extra: Record<string, Schema> = {}): Schema {
  return open({ metadata: metadataSchema, ...(spec ? { spec } : {}), ...(status ? { status } : {}), ...extra });
}

function builtin(
  apiVersion: string,
  kind: string,
  plural: string,
  namespaced: boolean,
  schema: Schema,
  options: {
    status?: boolean;
    shortNames?: string[];
    all?: boolean;
    generation?: boolean;
    scale?: boolean;
    review?: boolean;
  } = {},
): Kind {
  const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
  return {
    group,
    version,
    kind,
    plural,
    singular: kind.toLowerCase(),
    namespaced,
    status: options.status ?? false,
    generation: options.generation ?? false,
    scale: options.scale ?? false,
    shortNames: options.shortNames ?? [],
    categories: options.all ? ['all'] : [],
    schema,
    ...(options.review ? { review: true } : {}),
  };
}

export function builtinKinds(): Kind[] {
  const withConditions = open({ conditions });
  return [
    builtin('v1', 'Namespace', 'namespaces', false, root(open(), withConditions), { status: true, shortNames: ['ns'] }),
    builtin(
      'v1',
      'Service',
      'services',
      true,
      root(
        open({
          ports: mapList(
            ['port', 'protocol'],
            open({
              port: { type: 'integer', minimum: 1, maximum: 65535 },
              protocol: { type: 'string', default: 'TCP' },
            }),
          ),
          selector: labels,
          type: {
            type: 'string',
            default: 'ClusterIP',
            enum: ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'],
          },
          sessionAffinity: { type: 'string', default: 'None' },
        }),
        withConditions,
      ),
      { status: true, shortNames: ['svc'], all: true },
    ),
    builtin('v1', 'ConfigMap', 'configmaps', true, root(undefined, undefined, { data: labels }), {
      shortNames: ['cm'],
    }),
    builtin(
      'v1',
      'Secret',
      'secrets',
      true,
      root(undefined, undefined, { data: labels, type: { type: 'string', default: 'Opaque' } }),
    ),
    builtin('v1', 'Event', 'events', true, root(), { shortNames: ['ev'] }),
    builtin('v1', 'Pod', 'pods', true, root(podSpec, withConditions), { status: true, shortNames: ['po'], all: true }),
    builtin('apps/v1', 'Deployment', 'deployments', true, root(deploymentSpec, withConditions), {
      status: true,
      shortNames: ['deploy'],
      all: true,
      generation: true,
      scale: true,
    }),
    builtin(
      'apps/v1',
      'ReplicaSet',
      'replicasets',
      true,
      root(
        open({ replicas: { type: 'integer', minimum: 0, default: 1 }, selector, template }, { required: ['selector'] }),
        withConditions,
      ),
      { status: true, shortNames: ['rs'], all: true, generation: true, scale: true },
    ),
    builtin(
      'coordination.k8s.io/v1',
      'Lease',
      'leases',
      true,
      root(open({ leaseDurationSeconds: { type: 'integer', minimum: 1 } })),
    ),
    builtin(
      'networking.k8s.io/v1',
      'Ingress',
      'ingresses',
      true,
      root(open({ rules: { type: 'array', items: open() } }), open()),
      {
        status: true,
        shortNames: ['ing'],
        generation: true,
      },
    ),
    builtin(
      'apiextensions.k8s.io/v1',
      'CustomResourceDefinition',
      'customresourcedefinitions',
      false,
      root(open(), withConditions),
      {
        status: true,
        shortNames: ['crd', 'crds'],
        generation: true,
      },
    ),
    builtin('events.k8s.io/v1', 'Event', 'events', true, root(), { shortNames: ['ev'] }),
    builtin('authentication.k8s.io/v1', 'TokenReview', 'tokenreviews', false, root(open()), { review: true }),
    builtin('authorization.k8s.io/v1', 'SubjectAccessReview', 'subjectaccessreviews', false, root(open()), {
      review: true,
    }),
  ];
}

/** Every kind served now, by path and by type. */
export class Kinds {
  private readonly kinds: Kind[] = builtinKinds();

  all(): readonly Kind[] {
    return this.kinds;
  }

  byResource(group: string, version: string, plural: string): Kind | undefined {
    return this.kinds.find((k) => k.group === group && k.version === version && k.plural === plural);
  }

  byType(apiVersion: string, kind: string): Kind | undefined {
    return this.kinds.find((k) => apiVersionOf(k) === apiVersion && k.kind === kind);
  }

  /** Adds the kinds of a CRD (replacing the ones it served before). */
  serve(crd: string, kinds: Kind[]): void {
    this.remove(crd);
    this.kinds.push(...kinds);
  }

  remove(crd: string): void {
    for (let i = this.kinds.length - 1; i >= 0; i--) if (this.kinds[i]!.crd === crd) this.kinds.splice(i, 1);
  }

  groups(): Map<string, string[]> {
    const groups = new Map<string, string[]>();
    for (const k of this.kinds) {
      if (!k.group) continue;
      const versions = groups.get(k.group) ?? [];
      if (!versions.includes(k.version)) versions.push(k.version);
      groups.set(k.group, versions);
    }
    return groups;
  }
}

/** `GET /apis`, `/apis/<group>`: the group list kubectl discovers from. */
export function groupDocument(group: string, versions: string[]): Record<string, unknown> {
  const entries = versions.map((version) => ({ groupVersion: `${group}/${version}`, version }));
  return { kind: 'APIGroup', apiVersion: 'v1', name: group, versions: entries, preferredVersion: entries[0] };
}

/** `GET /api/v1`, `/apis/<group>/<version>`: each kind and its status subresource. */
export function resourceList(kinds: Kinds, group: string, version: string): Record<string, unknown> | undefined {
  const served = kinds.all().filter((k) => k.group === group && k.version === version);
  if (served.length === 0) return undefined;
  const verbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
  const resources = served.flatMap((k) => [
    {
      name: k.plural,
      singularName: k.singular,
      namespaced: k.namespaced,
      kind: k.kind,
      verbs: k.review ? ['create'] : verbs,
      ...(k.shortNames.length > 0 ? { shortNames: k.shortNames } : {}),
      ...(k.categories.length > 0 ? { categories: k.categories } : {}),
    },
    ...(k.status
      ? [
          {
            name: `${k.plural}/status`,
            singularName: '',
            namespaced: k.namespaced,
            kind: k.kind,
            verbs: ['get', 'patch', 'update'],
          },
        ]
      : []),
  ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf({ group, version }), resources };
}
