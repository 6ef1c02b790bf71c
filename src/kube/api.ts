/**
 * What kanari needs of a Kubernetes API server, as one small interface: read, list, write
 * with a `resourceVersion` precondition, patch, delete, watch, and discovery. The HTTP
 * implementation (`http-client.ts`) speaks to a real API server or to the test one
 * (test/helpers/kube/); traffic routers, the deployment target, the status store and the
 * operator are written against this interface only.
 *
 * Objects are plain JSON as the API server sends them. Every write that replaces an object
 * carries the `metadata.resourceVersion` it was read at, so a writer that read stale state
 * (a leader paused past its lease, a user's concurrent edit) gets a `KubeConflict` instead
 * of overwriting what it did not see.
 */

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  managedFields?: unknown[];
  [field: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** Any object: `apiVersion`, `kind`, `metadata`, and whatever its kind has (spec, status…). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** Which object: its type (`apiVersion` + `kind`), and its namespace and name. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  /** Omitted for cluster-scoped kinds (CustomResourceDefinition, Namespace). */
  namespace?: string;
  name: string;
}

/** A kind, as discovery describes it. */
export interface ResourceInfo {
  apiVersion: string;
  kind: string;
  /** The path segment: `httproutes`, `deployments`. */
  plural: string;
  namespaced: boolean;
  /** Subresources the server serves, such as `status` and `scale`. */
  subresources: string[];
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface ObjectList<T extends KubeObject = KubeObject> {
  items: T[];
  /** Where a watch that follows this list starts. */
  resourceVersion: string;
}

/** `merge` (RFC 7386), `json` (RFC 6902) or server-side `apply` (with a field manager). */
export type PatchType = 'merge' | 'json' | 'apply';

export interface PatchOptions {
  /** Required with `apply`; recorded in managed fields for the others. */
  fieldManager?: string;
  /** With `apply`: take over fields another manager owns. */
  force?: boolean;
  /** Patch the status subresource. */
  status?: boolean;
}

export interface DeleteOptions {
  /** Delete only the object at this version (or with this uid): never one changed since it was read. */
  preconditions?: { resourceVersion?: string; uid?: string };
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
}

/** One change a watch reports; BOOKMARK carries only a `metadata.resourceVersion` to resume from. */
export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  object: T;
}

export interface WatchOptions extends ListOptions {
  /** Start after this version (from a list, or the last event or bookmark seen). */
  resourceVersion: string;
  namespace?: string;
}

/** A running watch: `done` settles when it ends (the server closed it, or `stop()`), rejecting with `KubeGone` on 410. */
export interface Watch {
  stop(): void;
  readonly done: Promise<void>;
}

export interface KubeClient {
  /** The kind's plural, scope and subresources; undefined when the server does not serve it (a CRD not installed). */
  resource(apiVersion: string, kind: string): Promise<ResourceInfo | undefined>;
  /** The object, or undefined when there is none (404). */
  get<T extends KubeObject = KubeObject>(ref: ObjectRef): Promise<T | undefined>;
  /** Every object of a kind, in one namespace or (without one) in all. */
  list<T extends KubeObject = KubeObject>(
    apiVersion: string,
    kind: string,
    namespace?: string,
    options?: ListOptions,
  ): Promise<ObjectList<T>>;
  /** Creates `object`; `KubeConflict` with reason AlreadyExists if it does. */
  create<T extends KubeObject>(object: T): Promise<T>;
  /**
   * Replaces `object` (PUT), or its status with `status: true` (PUT …/status). Its
   * `metadata.resourceVersion` must be the version it was read at: `KubeConflict` otherwise.
   */
  replace<T extends KubeObject>(object: T, options?: { status?: boolean }): Promise<T>;
  patch<T extends KubeObject = KubeObject>(
    ref: ObjectRef,
    type: PatchType,
    patch: unknown,
    options?: PatchOptions,
  ): Promise<T>;
  /** Deletes the object; false when there was none. */
  delete(ref: ObjectRef, options?: DeleteOptions): Promise<boolean>;
  /** Watches a kind from `options.resourceVersion`, with bookmarks; `onEvent` is called in order. */
  watch<T extends KubeObject = KubeObject>(
    apiVersion: string,
    kind: string,
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
  ): Watch;
}

/** The API server's answer to a request it refused, as its `Status` object says it. */
export class KubeError extends Error {
  constructor(
    /** The HTTP status (0 when the server could not be reached). */
    readonly status: number,
    /** The Status `reason`: NotFound, AlreadyExists, Conflict, Invalid, Forbidden, Gone… */
    readonly reason: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KubeError';
  }
}

/** 409: the object changed since it was read (Conflict), or already exists (AlreadyExists). */
export class KubeConflict extends KubeError {
  constructor(reason: string, message: string) {
    super(409, reason, message);
    this.name = 'KubeConflict';
  }
}

/** 410: the version a watch or list asked to start from is too old; list again. */
export class KubeGone extends KubeError {
  constructor(message: string) {
    super(410, 'Expired', message);
    this.name = 'KubeGone';
  }
}

/** The group of an `apiVersion` ('' for the core group's `v1`). */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** How an object is named in messages: `HTTPRoute shop/web`. */
export function describeRef(ref: Pick<ObjectRef, 'kind' | 'namespace' | 'name'>): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
}

/** The reference to an object (for get, patch, delete). */
export function refOf(object: KubeObject): ObjectRef {
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    name: object.metadata.name,
    ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
  };
}
