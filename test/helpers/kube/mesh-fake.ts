/**
 * A tiny in-memory KubeClient for the mesh routers' tests until the test API server is on
 * main: objects by reference, `resourceVersion` preconditions on replace, and a hook that
 * runs before a replace lands (to play a user's concurrent edit). Only get/create/replace.
 */
import {
  describeRef,
  KubeConflict,
  KubeError,
  refOf,
  type KubeClient,
  type KubeObject,
  type ObjectRef,
} from '../../../src/kube/api.js';

const key = (r: ObjectRef) => `${r.apiVersion}/${r.kind}/${r.namespace ?? ''}/${r.name}`;

export class MeshFakeClient implements KubeClient {
  private readonly objects = new Map<string, KubeObject>();
  private version = 0;
  /** Runs before each replace is checked; it may change the stored object under the writer. */
  beforeReplace?: (incoming: KubeObject) => void;
  replaces = 0;

  stored<T extends KubeObject = KubeObject>(ref: ObjectRef): T | undefined {
    const o = this.objects.get(key(ref));
    return o && (structuredClone(o) as T);
  }

  /** Writes as a user would: no precondition. */
  put<T extends KubeObject>(object: T): T {
    const saved = structuredClone(object);
    saved.metadata.resourceVersion = String(++this.version);
    this.objects.set(key(refOf(saved)), saved);
    return structuredClone(saved);
  }

  resource(): never {
    throw new Error('not in the fake');
  }

  get<T extends KubeObject = KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    return Promise.resolve(this.stored<T>(ref));
  }

  list(): never {
    throw new Error('not in the fake');
  }

  create<T extends KubeObject>(object: T): Promise<T> {
    if (this.objects.has(key(refOf(object))))
      return Promise.reject(new KubeConflict('AlreadyExists', `${describeRef(refOf(object))} already exists`));
    return Promise.resolve(this.put(object));
  }

  replace<T extends KubeObject>(object: T): Promise<T> {
    this.replaces++;
    this.beforeReplace?.(object);
    const current = this.objects.get(key(refOf(object)));
    if (!current) return Promise.reject(new KubeError(404, 'NotFound', `${describeRef(refOf(object))} not found`));
    if (current.metadata.resourceVersion !== object.metadata.resourceVersion)
      return Promise.reject(new KubeConflict('Conflict', `${describeRef(refOf(object))} was modified`));
    return Promise.resolve(this.put(object));
  }

  patch(): never {
    throw new Error('not in the fake');
  }

  delete(): never {
    throw new Error('not in the fake');
  }

  watch(): never {
    throw new Error('not in the fake');
  }
}
