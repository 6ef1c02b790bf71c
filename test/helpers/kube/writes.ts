/**
 * Every write goes through `commit`, as every write goes through the real server's registry:
 * identity checks, the resourceVersion precondition, the status subresource split (the main
 * resource ignores status, `/status` ignores everything else), pruning, defaulting and
 * validation, the generation rule (bumped when anything but metadata and status changes), and
 * managed fields. Deletion and the garbage collector are in deletion.ts.
 */
import { randomUUID } from 'node:crypto';
import { alreadyExists, ApiError, badRequest, conflict, invalid, notFound, type StatusCause } from './errors.js';
import { apiVersionOf, type Kind, type Kinds } from './kinds.js';
import { recordUpdate, serverSideApply, type Writer } from './managed.js';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import { checkName, specChanged, unknownFields, validateKind } from './rules.js';
import { admit, isObject, prune } from './schema.js';
import type { ObjectStore, StoredObject } from './store.js';

export interface Target {
  kind: Kind;
  namespace?: string;
  name?: string;
  /** 'status' for `/status`. */
  subresource?: string;
}

export type PatchKind = 'merge' | 'json' | 'strategic' | 'apply';

/** Who writes, and what to do with unknown fields (`?fieldValidation=`): Strict refuses them, others prune them (Warn says so). */
export interface WriteRequest extends Writer {
  fieldValidation?: string | null;
  warnings?: string[];
}

/** Fields the server sets and a client cannot change. */
const SERVER_OWNED = [
  'uid',
  'creationTimestamp',
  'generation',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
];

export class Writes {
  /** Called after a write, with the stored object (the CRD and Deployment controllers listen). */
  constructor(
    private readonly store: ObjectStore,
    private readonly kinds: Kinds,
  ) {}

  named(t: Target, name: string) {
    return { plural: t.kind.plural, group: t.kind.group, name };
  }

  create(t: Target, body: unknown, writer: WriteRequest): StoredObject {
    const object = this.identity(t, body, undefined);
    const name = object.metadata.name;
    if (this.store.get(t.kind, t.namespace, name)) throw alreadyExists(this.named(t, name));
    this.checkNamespace(t);
    if (t.kind.status) delete object.status;
    if (t.kind.kind === 'Namespace') object.status = { phase: 'Active' };
    object.metadata = {
      ...object.metadata,
      uid: randomUUID(),
      creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      ...(t.kind.generation ? { generation: 1 } : {}),
    };
    delete object.metadata.resourceVersion;
    if (t.kind.kind === 'Service') this.allocateClusterIP(object);
    return this.commit(t, undefined, object, writer, false);
  }

  update(t: Target, body: unknown, writer: WriteRequest): StoredObject {
    const before = this.existing(t);
    const object = this.identity(t, body, before);
    return this.commit(t, before, object, writer, false);
  }

  patch(t: Target, type: PatchKind, body: unknown, writer: WriteRequest, force: boolean): StoredObject {
    const before = t.name ? this.store.get(t.kind, t.namespace, t.name) : undefined;
    if (type === 'apply') return this.apply(t, before, body, writer, force);
    if (!before) throw notFound(this.named(t, t.name ?? ''));
    const patched =
      type === 'merge'
        ? mergePatch(before, body)
        : type === 'strategic'
          ? strategicMergePatch(before, body, t.kind.schema)
          : jsonPatch(before, body);
    if (!isObject(patched)) throw badRequest('the patch turned the object into something that is not an object');
    // A patch that names no resourceVersion is unconditional; one that does is a precondition.
    const named = isObject(patched.metadata) ? patched.metadata.resourceVersion : undefined;
    if (isObject(patched.metadata) && named === before.metadata.resourceVersion)
      delete patched.metadata.resourceVersion;
    return this.commit(t, before, this.identity(t, patched, before), writer, false);
  }

  private apply(
    t: Target,
    before: StoredObject | undefined,
    body: unknown,
    writer: WriteRequest,
    force: boolean,
  ): StoredObject {
    if (!isObject(body)) throw badRequest('the body of an apply patch must be an object');
    const applied = structuredClone(body);
    if (!isObject(applied.metadata)) applied.metadata = { name: t.name };
    delete (applied.metadata as Record<string, unknown>).managedFields;
    const object = this.identity(t, applied, before);
    if (t.kind.status && t.subresource !== 'status') delete object.status;
    if (t.subresource === 'status') {
      if (!before) throw notFound(this.named(t, t.name ?? ''));
      for (const key of Object.keys(object))
        if (!['apiVersion', 'kind', 'metadata', 'status'].includes(key)) delete object[key];
      object.metadata = {
        name: object.metadata.name,
        ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
      };
    }
    const pruned: string[] = [];
    prune(t.kind.schema, object, pruned);
    unknownFields(pruned, writer);
    const precondition = object.metadata.resourceVersion;
    delete object.metadata.resourceVersion;
    if (precondition !== undefined && precondition !== before?.metadata.resourceVersion)
      throw conflict(this.named(t, object.metadata.name));
    if (!before) {
      this.checkNamespace(t);
      const created = serverSideApply(undefined, object, t.kind.schema, writer, force) as unknown as StoredObject;
      const { uid: _u, ...meta } = created.metadata;
      created.metadata = {
        ...meta,
        uid: randomUUID(),
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        ...(t.kind.generation ? { generation: 1 } : {}),
      };
      if (t.kind.kind === 'Service') this.allocateClusterIP(created);
      return this.commit(t, undefined, created, writer, true);
    }
    const merged = serverSideApply(before, object, t.kind.schema, writer, force) as unknown as StoredObject;
    return this.commit(t, before, merged, writer, true);
  }

  private existing(t: Target): StoredObject {
    const before = t.name ? this.store.get(t.kind, t.namespace, t.name) : undefined;
    if (!before) throw notFound(this.named(t, t.name ?? ''));
    return before;
  }

  /** The body as an object of this kind, named as the URL names it. */
  private identity(t: Target, body: unknown, before: StoredObject | undefined): StoredObject {
    if (!isObject(body)) throw badRequest(`Object of kind ${t.kind.kind} must be a JSON object`);
    const object = structuredClone(body) as StoredObject;
    const apiVersion = apiVersionOf(t.kind);
    if (object.kind === undefined || object.apiVersion === undefined) {
      if (before) Object.assign(object, { apiVersion, kind: t.kind.kind });
      else throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(body).slice(0, 200)}'`);
    }
    if (object.kind !== t.kind.kind || object.apiVersion !== apiVersion)
      throw badRequest(
        `the API version in the data (${String(object.apiVersion)}) does not match the expected API version (${apiVersion}) or kind ${String(object.kind)} is not ${t.kind.kind}`,
      );
    if (!isObject(object.metadata)) throw badRequest('metadata: must be an object');
    const name = object.metadata.name;
    if (typeof name !== 'string' || name === '') {
      if (t.name === undefined)
        throw invalid({ ...this.named(t, ''), kind: t.kind.kind }, [
          {
            reason: 'FieldValueRequired',
            message: 'Required value: name or generateName is required',
            field: 'metadata.name',
          },
        ]);
      object.metadata.name = t.name;
    } else if (t.name !== undefined && name !== t.name)
      throw badRequest(`the name of the object (${name}) does not match the name on the URL (${t.name})`);
    const namespace = object.metadata.namespace;
    if (t.kind.namespaced) {
      if (namespace !== undefined && namespace !== t.namespace)
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      object.metadata.namespace = t.namespace;
    } else delete object.metadata.namespace;
    return object;
  }

  private checkNamespace(t: Target): void {
    if (!t.kind.namespaced) return;
    const ns = this.kinds.byType('v1', 'Namespace')!;
    const found = this.store.get(ns, undefined, t.namespace ?? '');
    if (!found) throw notFound({ plural: 'namespaces', group: '', name: t.namespace ?? '' });
    if (found.metadata.deletionTimestamp)
      throw new ApiError(
        403,
        'Forbidden',
        `${t.kind.plural} "${t.name ?? ''}" is forbidden: unable to create new content in namespace ${t.namespace} because it is being terminated`,
      );
  }

  private commit(
    t: Target,
    before: StoredObject | undefined,
    object: StoredObject,
    writer: WriteRequest,
    applied: boolean,
  ): StoredObject {
    const name = object.metadata.name;
    const precondition = object.metadata.resourceVersion;
    if (before && precondition !== undefined && precondition !== '' && precondition !== before.metadata.resourceVersion)
      throw conflict(this.named(t, name));
    let next = object;
    if (before) {
      if (t.subresource === 'status')
        next = {
          ...structuredClone(before),
          status: object.status,
          metadata: { ...before.metadata, managedFields: object.metadata.managedFields },
        };
      else if (t.kind.status) {
        if (before.status === undefined) delete next.status;
        else next.status = structuredClone(before.status);
      }
      for (const key of SERVER_OWNED) {
        if (key === 'managedFields') continue;
        if (before.metadata[key] === undefined) delete next.metadata[key];
        else next.metadata[key] = before.metadata[key];
      }
    }
    const pruned: string[] = [];
    const causes: StatusCause[] = [...checkName(t.kind, name), ...admit(t.kind.schema, next, '', pruned)];
    unknownFields(pruned, writer);
    causes.push(...validateKind(t.kind, next));
    if (causes.length > 0)
      throw invalid(
        { ...this.named(t, name), kind: t.kind.kind },
        causes.map((c) => ({ ...c, field: c.field?.replace(/^\./, '') ?? '' })),
      );
    if (before && t.kind.generation && specChanged(t.kind, before, next))
      next.metadata.generation = (before.metadata.generation ?? 0) + 1;
    if (!applied) recordUpdate(before, next, t.kind.schema, writer);
    delete next.metadata.resourceVersion;
    if (before?.metadata.deletionTimestamp && !(next.metadata.finalizers as string[] | undefined)?.length) {
      this.store.write(t.kind, next);
      return this.store.remove(t.kind, t.namespace, name)!;
    }
    return this.store.write(t.kind, next);
  }

  private nextClusterIP = 1;

  /** A ClusterIP Service gets an address from 10.96.0.0/16, as the real allocator gives one. */
  private allocateClusterIP(service: StoredObject): void {
    const spec = isObject(service.spec) ? service.spec : (service.spec = {});
    if ((spec.type ?? 'ClusterIP') !== 'ClusterIP' || spec.clusterIP !== undefined) return;
    const n = this.nextClusterIP++;
    spec.clusterIP = `10.96.${Math.floor(n / 254)}.${(n % 254) + 1}`;
    spec.clusterIPs = [spec.clusterIP];
  }
}
