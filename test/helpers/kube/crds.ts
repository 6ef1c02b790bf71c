/**
 * CustomResourceDefinitions: a CRD that is created starts serving its kinds (one per served
 * version, with its schema, status subresource and printer columns) and is marked
 * Established; one that is deleted stops serving them and takes its objects with it. A CRD
 * this server could not enforce (no structural schema, names that do not fit) is refused
 * with 422 before it is stored, so a test never runs against a kind served half-way.
 */
import { fieldInvalid, invalid, type StatusCause } from './errors.js';
import { metadataSchema, type Kind, type Kinds, type PrinterColumn } from './kinds.js';
import { isObject, structuralProblem, type Schema } from './schema.js';
import type { Change, ObjectStore, StoredObject } from './store.js';

/** The kinds a CRD serves, or the causes of it being invalid. */
export function kindsOfCrd(crd: StoredObject): Kind[] | StatusCause[] {
  const spec = isObject(crd.spec) ? crd.spec : {};
  const names = isObject(spec.names) ? spec.names : {};
  const causes: StatusCause[] = [];
  const text = (v: unknown, field: string): string => {
    if (typeof v === 'string' && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/i.test(v)) return v;
    causes.push(fieldInvalid(field, v ?? null, 'must be a lowercase DNS name'));
    return '';
  };
  const group = text(spec.group, 'spec.group');
  const plural = text(names.plural, 'spec.names.plural');
  const kind = typeof names.kind === 'string' && /^[A-Z][A-Za-z0-9]*$/.test(names.kind) ? names.kind : '';
  if (!kind) causes.push(fieldInvalid('spec.names.kind', names.kind ?? null, 'must be a CamelCase kind'));
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster')
    causes.push(fieldInvalid('spec.scope', spec.scope ?? null, 'must be Namespaced or Cluster'));
  if (crd.metadata.name !== `${plural}.${group}`)
    causes.push(fieldInvalid('metadata.name', crd.metadata.name, `must be spec.names.plural+"."+spec.group`));
  const versions = Array.isArray(spec.versions) ? spec.versions.filter(isObject) : [];
  if (versions.length === 0)
    causes.push({
      reason: 'FieldValueRequired',
      message: 'Required value: must have exactly one version marked as storage version',
      field: 'spec.versions',
    });
  if (versions.filter((v) => v.storage === true).length !== 1 && versions.length > 0)
    causes.push(
      fieldInvalid('spec.versions', versions.length, 'must have exactly one version marked as storage version'),
    );
  const kinds = versions.flatMap((v, i): Kind[] => {
    const openAPI = isObject(v.schema) ? v.schema.openAPIV3Schema : undefined;
    const problem = structuralProblem(openAPI);
    if (problem)
      causes.push({
        reason: 'FieldValueInvalid',
        message: problem,
        field: `spec.versions[${i}].schema.openAPIV3Schema`,
      });
    if (problem || v.served !== true || typeof v.name !== 'string') return [];
    const schema = structuredClone(openAPI) as Schema;
    // ObjectMeta is the server's own; apiVersion and kind are never pruned.
    schema.properties = {
      ...schema.properties,
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: metadataSchema,
    };
    const subresources = isObject(v.subresources) ? v.subresources : {};
    return [
      {
        group,
        version: v.name,
        kind,
        plural,
        singular: typeof names.singular === 'string' ? names.singular : kind.toLowerCase(),
        namespaced: spec.scope === 'Namespaced',
        status: isObject(subresources.status),
        generation: true,
        scale: false,
        shortNames: Array.isArray(names.shortNames)
          ? names.shortNames.filter((s): s is string => typeof s === 'string')
          : [],
        categories: Array.isArray(names.categories)
          ? names.categories.filter((s): s is string => typeof s === 'string')
          : [],
        schema,
        ...(Array.isArray(v.additionalPrinterColumns)
          ? { printerColumns: v.additionalPrinterColumns as PrinterColumn[] }
          : {}),
        crd: crd.metadata.name,
      },
    ];
  });
  return causes.length > 0 ? causes : kinds;
}

/** Checks a CRD before it is written (throws 422). */
export function validateCrd(crd: StoredObject): void {
  const result = kindsOfCrd(crd);
  if (result.length > 0 && !('group' in result[0]!))
    throw invalid(
      {
        plural: 'customresourcedefinitions',
        group: 'apiextensions.k8s.io',
        kind: 'CustomResourceDefinition',
        name: crd.metadata.name,
      },
      result as StatusCause[],
    );
}

/** Keeps served kinds in step with the CRDs stored, and marks each new one Established. */
export function runCrdController(store: ObjectStore, kinds: Kinds): () => void {
  const crdKind = kinds.byType('apiextensions.k8s.io/v1', 'CustomResourceDefinition')!;
  return store.subscribe((change: Change) => {
    if (change.kind !== crdKind) return;
    const name = change.object.metadata.name;
    if (change.type === 'DELETED') {
      const served = kinds.all().filter((k) => k.crd === name);
      kinds.remove(name);
      for (const kind of served)
        for (const o of store.list(kind)) store.remove(kind, o.metadata.namespace, o.metadata.name);
      return;
    }
    const result = kindsOfCrd(change.object);
    if (result.length === 0 || !('group' in result[0]!)) return;
    kinds.serve(name, result as Kind[]);
    if (isObject(change.object.status) && Array.isArray(change.object.status.conditions)) return;
    // After this event reaches every watcher, as the real establishing controller writes later.
    queueMicrotask(() => {
      const current = store.get(crdKind, undefined, name);
      if (!current || current.metadata.uid !== change.object.metadata.uid) return;
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const condition = (type: string, reason: string) => ({
        type,
        status: 'True',
        lastTransitionTime: now,
        reason,
        message: '',
      });
      current.status = {
        acceptedNames: (current.spec as Record<string, unknown>).names,
        storedVersions: (result as Kind[]).map((k) => k.version).slice(0, 1),
        conditions: [condition('NamesAccepted', 'NoConflicts'), condition('Established', 'InitialNamesAccepted')],
      };
      store.write(crdKind, current);
    });
  });
}
