/**
 * The objects, as etcd keeps them for the real server: one global resourceVersion counter
 * bumped by every write, and a bounded history of changes from which watches resume. A watch
 * that asks to resume from before the history's start is told 410 Gone (Expired).
 */
import type { KubeObject } from '../../../src/kube/api.js';
import { apiVersionOf, type Kind } from './kinds.js';

export type StoredObject = KubeObject;

export interface Change {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  kind: Kind;
  object: StoredObject;
  /** What the object was before a MODIFIED, so a filtered watch can tell it left the filter. */
  previous?: StoredObject;
}

/** Objects are stored by group and kind, not version: every served version reads the same one. */
const kindKey = (kind: Kind): string => `${kind.group}/${kind.kind}`;
const objectKey = (kind: Kind, namespace: string | undefined, name: string): string =>
  `${kindKey(kind)}/${namespace ?? ''}/${name}`;

export class ObjectStore {
  private revision = 1;
  private readonly objects = new Map<string, { kind: Kind; object: StoredObject }>();
  private readonly history: Change[] = [];
  /** Watches may resume from this resourceVersion or later; earlier ones are compacted. */
  private compacted = 0;
  private readonly listeners = new Set<(change: Change) => void>();

  constructor(private readonly historySize: number) {}

  get resourceVersion(): number {
    return this.revision;
  }

  get compactedRevision(): number {
    return this.compacted;
  }

  get(kind: Kind, namespace: string | undefined, name: string): StoredObject | undefined {
    const found = this.objects.get(objectKey(kind, namespace, name));
    return found ? as(kind, found.object) : undefined;
  }

  list(kind: Kind, namespace?: string): StoredObject[] {
    const prefix = `${kindKey(kind)}/`;
    const out: StoredObject[] = [];
    for (const [key, { object }] of this.objects) {
      if (key.startsWith(prefix) && (namespace === undefined || object.metadata.namespace === namespace))
        out.push(as(kind, object));
    }
    return out.sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
    );
  }

  /** Every object of every kind, with its kind (for the garbage collector and namespaces). */
  everything(): { kind: Kind; object: StoredObject }[] {
    return [...this.objects.values()].map(({ kind, object }) => ({ kind, object: structuredClone(object) }));
  }

  /** Stores `object` at a new resourceVersion and tells the watchers; returns what was stored. */
  write(kind: Kind, object: StoredObject): StoredObject {
    const key = objectKey(kind, object.metadata.namespace, object.metadata.name);
    const previous = this.objects.get(key)?.object;
    const stored = structuredClone(object);
    stored.metadata.resourceVersion = String(++this.revision);
    this.objects.set(key, { kind, object: stored });
    this.record({
      rv: this.revision,
      type: previous ? 'MODIFIED' : 'ADDED',
      kind,
      object: stored,
      ...(previous ? { previous } : {}),
    });
    return as(kind, stored);
  }

  /** Removes the object; the DELETED event carries it at the deletion's resourceVersion. */
  remove(kind: Kind, namespace: string | undefined, name: string): StoredObject | undefined {
    const key = objectKey(kind, namespace, name);
    const found = this.objects.get(key);
    if (!found) return undefined;
    this.objects.delete(key);
    const gone = structuredClone(found.object);
    gone.metadata.resourceVersion = String(++this.revision);
    this.record({ rv: this.revision, type: 'DELETED', kind: found.kind, object: gone });
    return as(kind, gone);
  }

  /** Changes after `rv` still in the history, or undefined when some were compacted. */
  since(rv: number): Change[] | undefined {
    if (rv < this.compacted) return undefined;
    return this.history.filter((c) => c.rv > rv);
  }

  subscribe(listener: (change: Change) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private record(change: Change): void {
    this.history.push(change);
    while (this.history.length > this.historySize) this.compacted = this.history.shift()!.rv;
    for (const listener of [...this.listeners]) listener(change);
  }
}

/** A copy of a stored object as `kind`'s version reads it (apiVersion set, nothing converted). */
export function as(kind: Kind, object: StoredObject): StoredObject {
  return { ...structuredClone(object), apiVersion: apiVersionOf(kind), kind: kind.kind };
}
