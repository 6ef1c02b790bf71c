/**
 * A tiny in-memory `KubeClient` for the ingress slice's adapter tests, until the test API
 * server (test/helpers/kube/apiserver.ts) lands: objects by kind/namespace/name, a
 * resourceVersion checked on replace, uid preconditions on delete, equality label
 * selectors, and a stand-in Deployment controller (`settle`) that makes every pod ready.
 */
import {
  KubeConflict,
  KubeError,
  type KubeClient,
  type KubeObject,
  type ObjectList,
  type ObjectRef,
} from '../../../src/kube/api.js';

export class FakeKube implements KubeClient {
  private readonly objects = new Map<string, KubeObject>();
  private version = 0;
  /** Every write, in order (`create Deployment shop/web-v1`). */
  readonly writes: string[] = [];
  /** When true, Deployments are settled (all pods ready) whenever they are read. */
  autoReady = false;

  private key(r: Pick<ObjectRef, 'apiVersion' | 'kind' | 'namespace' | 'name'>): string {
    return `${r.apiVersion}/${r.kind}/${r.namespace ?? ''}/${r.name}`;
  }

  resource(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  get<T extends KubeObject = KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    if (this.autoReady) this.settle();
    const o = this.objects.get(this.key(ref));
    return Promise.resolve(o ? (structuredClone(o) as T) : undefined);
  }

  list<T extends KubeObject = KubeObject>(
    apiVersion: string,
    kind: string,
    namespace?: string,
    options: { labelSelector?: string } = {},
  ): Promise<ObjectList<T>> {
    if (this.autoReady) this.settle();
    const wanted = (options.labelSelector ?? '')
      .split(',')
      .filter(Boolean)
      .map((kv) => kv.split('='));
    const items = [...this.objects.values()].filter(
      (o) =>
        o.apiVersion === apiVersion &&
        o.kind === kind &&
        (namespace === undefined || o.metadata.namespace === namespace) &&
        wanted.every(([k, v]) => o.metadata.labels?.[k!] === v),
    );
    return Promise.resolve({ items: structuredClone(items) as T[], resourceVersion: String(this.version) });
  }

  create<T extends KubeObject>(object: T): Promise<T> {
    const key = this.key({ ...object, ...object.metadata });
    if (this.objects.has(key)) return Promise.reject(new KubeConflict('AlreadyExists', `${key} already exists`));
    const stored = structuredClone(object);
    stored.metadata = {
      ...stored.metadata,
      uid: `uid-${++this.version}`,
      resourceVersion: String(this.version),
      generation: 1,
    };
    this.objects.set(key, stored);
    this.writes.push(`create ${object.kind} ${object.metadata.namespace}/${object.metadata.name}`);
    return Promise.resolve(structuredClone(stored));
  }

  replace<T extends KubeObject>(object: T): Promise<T> {
    const key = this.key({ ...object, ...object.metadata });
    const current = this.objects.get(key);
    if (!current) return Promise.reject(new KubeError(404, 'NotFound', `${key} not found`));
    if (object.metadata.resourceVersion !== current.metadata.resourceVersion)
      return Promise.reject(new KubeConflict('Conflict', `${key} was modified`));
    const stored = structuredClone(object);
    const specChanged = JSON.stringify(current.spec) !== JSON.stringify(object.spec);
    stored.metadata = {
      ...stored.metadata,
      uid: current.metadata.uid!,
      resourceVersion: String(++this.version),
      generation: (current.metadata.generation ?? 1) + (specChanged ? 1 : 0),
    };
    if (current.status !== undefined) (stored as KubeObject).status = current.status;
    this.objects.set(key, stored);
    this.writes.push(`replace ${object.kind} ${object.metadata.namespace}/${object.metadata.name}`);
    return Promise.resolve(structuredClone(stored));
  }

  patch(): Promise<never> {
    return Promise.reject(new Error('the fake does not patch'));
  }

  delete(ref: ObjectRef, options: { preconditions?: { uid?: string } } = {}): Promise<boolean> {
    const current = this.objects.get(this.key(ref));
    if (!current) return Promise.resolve(false);
    const uid = options.preconditions?.uid;
    if (uid !== undefined && uid !== current.metadata.uid)
      return Promise.reject(new KubeConflict('Conflict', `${ref.name}: uid precondition failed`));
    this.objects.delete(this.key(ref));
    this.writes.push(`delete ${ref.kind} ${ref.namespace}/${ref.name}`);
    return Promise.resolve(true);
  }

  watch(): never {
    throw new Error('the fake does not watch');
  }

  /** Puts an object as a user (or another controller) would, whatever its shape. */
  put(object: KubeObject): KubeObject {
    const key = this.key({ ...object, ...object.metadata });
    const current = this.objects.get(key);
    const stored = structuredClone(object);
    stored.metadata = {
      ...stored.metadata,
      uid: current?.metadata.uid ?? `uid-${++this.version}`,
      resourceVersion: String(++this.version),
      generation: (current?.metadata.generation ?? 0) + 1,
    };
    this.objects.set(key, stored);
    return structuredClone(stored);
  }

  peek(ref: ObjectRef): KubeObject | undefined {
    const o = this.objects.get(this.key(ref));
    return o ? structuredClone(o) : undefined;
  }

  /** The Deployment controller, done at once: every Deployment's pods exist and are ready. */
  settle(): void {
    for (const o of this.objects.values()) {
      if (o.kind !== 'Deployment') continue;
      const replicas = (o.spec as { replicas?: number }).replicas ?? 1;
      o.status = {
        observedGeneration: o.metadata.generation,
        replicas,
        readyReplicas: replicas,
        updatedReplicas: replicas,
      };
    }
  }
}
