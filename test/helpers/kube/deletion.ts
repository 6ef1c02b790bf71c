/**
 * Deletion as the real server and its garbage collector do it: preconditions (uid,
 * resourceVersion), finalizers (an object with any is only marked with a deletionTimestamp
 * until the last is removed), namespaces that take their content with them, and owner
 * references — a dependent goes when all its owners are gone (background; `Orphan` strips
 * the reference instead), and an object created with an owner that does not exist (a wrong
 * uid) is collected too, as the real collector does after it looks the owner up. A
 * namespace stays Terminating until everything in it is gone, finalizers included.
 */
import { conflict, notFound } from './errors.js';
import type { Kind, Kinds } from './kinds.js';
import type { Change, ObjectStore, StoredObject } from './store.js';
import type { Target, Writes } from './writes.js';

export interface DeleteOptions {
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: string;
}

const GC = { manager: 'kube-controller-manager', apiVersion: 'v1' };

export class Deletion {
  /** Uids of owners deleted with propagationPolicy Orphan. */
  private readonly orphaning = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly store: ObjectStore,
    private readonly kinds: Kinds,
    private readonly writes: Writes,
    /** How long the collector takes to notice: real ones take a moment, and code must not assume it is instant. */
    private readonly collectorDelayMs: number,
  ) {
    store.subscribe((change) => this.observe(change));
  }

  delete(t: Target, options: DeleteOptions): StoredObject {
    const name = t.name ?? '';
    const before = this.store.get(t.kind, t.namespace, name);
    if (!before) throw notFound(this.writes.named(t, name));
    const { uid, resourceVersion } = options.preconditions ?? {};
    if (uid !== undefined && uid !== before.metadata.uid)
      throw conflict(
        this.writes.named(t, name),
        `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${before.metadata.uid}`,
      );
    if (resourceVersion !== undefined && resourceVersion !== before.metadata.resourceVersion)
      throw conflict(
        this.writes.named(t, name),
        `Precondition failed: ResourceVersion in precondition: ${resourceVersion}, ResourceVersion in object meta: ${before.metadata.resourceVersion}`,
      );
    if (options.propagationPolicy === 'Orphan') this.orphaning.add(before.metadata.uid ?? '');
    const finalizers = (before.metadata.finalizers as string[] | undefined) ?? [];
    if (t.kind.kind === 'Namespace') return this.terminate(t.kind, before);
    if (finalizers.length === 0) return this.store.remove(t.kind, t.namespace, name)!;
    if (before.metadata.deletionTimestamp) return before;
    const marked = structuredClone(before);
    marked.metadata.deletionTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    marked.metadata.deletionGracePeriodSeconds = 0;
    return this.store.write(t.kind, marked);
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
  }

  /** A namespace is marked Terminating, emptied, then removed. */
  private terminate(kind: Kind, namespace: StoredObject): StoredObject {
    if (namespace.metadata.deletionTimestamp) return namespace;
    const marked = structuredClone(namespace);
    marked.metadata.deletionTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    marked.status = { phase: 'Terminating' };
    const stored = this.store.write(kind, marked);
    this.later(() => this.drain(kind, namespace.metadata.name));
    return stored;
  }

  /** Deletes what a terminating namespace holds (finalizers hold it), and the namespace once it is empty. */
  private drain(kind: Kind, name: string): void {
    const inside = this.store.everything().filter(({ object }) => object.metadata.namespace === name);
    for (const { kind: k, object } of inside) {
      if (!object.metadata.deletionTimestamp) this.delete({ kind: k, namespace: name, name: object.metadata.name }, {});
    }
    if (!this.store.everything().some(({ object }) => object.metadata.namespace === name))
      this.store.remove(kind, undefined, name);
  }

  private later(work: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      work();
    }, this.collectorDelayMs);
    this.timers.add(timer);
  }

  private observe(change: Change): void {
    const uid = change.object.metadata.uid ?? '';
    if (change.type === 'DELETED') {
      const ns = change.object.metadata.namespace;
      const nsKind = this.kinds.byType('v1', 'Namespace')!;
      if (ns && this.store.get(nsKind, undefined, ns)?.metadata.deletionTimestamp)
        this.later(() => this.drain(nsKind, ns));
      for (const { kind, object } of this.store.everything()) {
        if (object.metadata.ownerReferences?.some((r) => r.uid === uid)) this.later(() => this.collect(kind, object));
      }
    } else if (change.object.metadata.ownerReferences?.length) {
      const { kind, object } = change;
      this.later(() => this.collect(kind, object));
    }
  }

  /** Deletes a dependent none of whose owners exist; drops references to owners that are gone. */
  private collect(kind: Kind, seen: StoredObject): void {
    const current = this.store.get(kind, seen.metadata.namespace, seen.metadata.name);
    if (!current || current.metadata.uid !== seen.metadata.uid || current.metadata.deletionTimestamp) return;
    // An owner deleted with Orphan lets go of its dependents: its reference is dropped, never collected.
    for (const r of current.metadata.ownerReferences ?? [])
      if (this.orphaning.has(r.uid)) this.stripOwner(kind, current, r.uid);
    const refs = (
      this.store.get(kind, current.metadata.namespace, current.metadata.name)?.metadata.ownerReferences ?? []
    ).filter((r) => !this.orphaning.has(r.uid));
    const missing = refs.filter((r) => !this.ownerExists(r, current.metadata.namespace));
    if (missing.length === 0) return;
    const t = {
      kind,
      name: current.metadata.name,
      ...(current.metadata.namespace ? { namespace: current.metadata.namespace } : {}),
    };
    if (missing.length === refs.length) {
      this.delete(t, {});
      return;
    }
    for (const r of missing) this.stripOwner(kind, current, r.uid);
  }

  private stripOwner(kind: Kind, object: StoredObject, uid: string): void {
    const current = this.store.get(kind, object.metadata.namespace, object.metadata.name);
    if (!current) return;
    current.metadata.ownerReferences = current.metadata.ownerReferences?.filter((r) => r.uid !== uid);
    if (current.metadata.ownerReferences?.length === 0) delete current.metadata.ownerReferences;
    const t = {
      kind,
      name: current.metadata.name,
      ...(current.metadata.namespace ? { namespace: current.metadata.namespace } : {}),
    };
    this.writes.update(t, current, GC);
  }

  /** The owner is looked up as the real collector does: by kind and uid, in the dependent's namespace or cluster-wide. */
  private ownerExists(ref: { apiVersion: string; kind: string; uid: string }, namespace: string | undefined): boolean {
    const kind = this.kinds.byType(ref.apiVersion, ref.kind);
    // The real collector cannot map an unserved kind and leaves the dependent alone (it retries).
    if (!kind) return true;
    return this.store.list(kind, kind.namespaced ? namespace : undefined).some((o) => o.metadata.uid === ref.uid);
  }
}
