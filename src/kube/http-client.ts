/**
 * The `KubeClient` over HTTP(S), written for kanari rather than taken from
 * @kubernetes/client-node (docs/kubernetes.md, "The API client", says why): paths from
 * discovery, JSON bodies, the three patch types, watches as JSON-line streams, and every
 * failure a `KubeError` with the server's own message.
 */
import {
  describeRef,
  KubeError,
  type DeleteOptions,
  type KubeClient,
  type KubeObject,
  type ListOptions,
  type ObjectList,
  type ObjectRef,
  type PatchOptions,
  type PatchType,
  type ResourceInfo,
  type Watch,
  type WatchEvent,
  type WatchOptions,
} from './api.js';
import { Discovery, groupPath } from './discovery.js';
import { INVALID_RESPONSE } from './http-errors.js';
import { Transport, type TransportLimits } from './http-transport.js';
import type { KubeConnection } from './kubeconfig.js';
import { openWatch, type WatchLimits } from './watch-stream.js';

export type KubeClientLimits = TransportLimits & WatchLimits;

export const DEFAULT_LIMITS: KubeClientLimits = {
  timeoutMs: 30_000,
  maxBodyBytes: 256 * 1024 * 1024,
  // client-go's reflectors ask for 5 to 10 minutes; the server ends the stream then and we watch again.
  timeoutSeconds: 300,
  graceMs: 30_000,
  maxLineBytes: 16 * 1024 * 1024,
};

const PATCH_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

/** A KubeClient that can also close its idle connections. */
export interface HttpKubeClient extends KubeClient {
  readonly connection: KubeConnection;
  close(): void;
}

export function kubeClient(conn: KubeConnection, limits: Partial<KubeClientLimits> = {}): HttpKubeClient {
  const all = { ...DEFAULT_LIMITS, ...limits };
  const transport = new Transport(conn, all);
  const discovery = new Discovery(transport);

  const served = async (apiVersion: string, kind: string): Promise<ResourceInfo> => {
    const info = await discovery.find(apiVersion, kind);
    if (!info) {
      throw new KubeError(
        404,
        'NotFound',
        `the API server does not serve ${kind} (${apiVersion}); is its CRD installed?`,
      );
    }
    return info;
  };
  /** `/apis/g/v[/namespaces/ns]/plural[/name][/status]`; a namespaced kind without a namespace is listed across all. */
  const pathOf = (info: ResourceInfo, namespace: string | undefined, name?: string, status = false): string => {
    let path = groupPath(info.apiVersion);
    if (info.namespaced && namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
    path += `/${info.plural}`;
    if (name !== undefined) path += `/${encodeURIComponent(name)}`;
    return status ? `${path}/status` : path;
  };
  const objectPath = async (ref: ObjectRef, status = false): Promise<string> =>
    pathOf(await served(ref.apiVersion, ref.kind), ref.namespace ?? conn.namespace, ref.name, status);
  const asObject = <T>(body: unknown, what: string): T => {
    const metadata = (body as { metadata?: unknown } | undefined)?.metadata;
    if (typeof metadata !== 'object' || metadata === null) {
      throw new KubeError(0, INVALID_RESPONSE, `${what}: the API server's answer is not an object`);
    }
    return body as T;
  };

  return {
    connection: conn,
    close: () => transport.close(),
    resource: (apiVersion, kind) => discovery.find(apiVersion, kind),

    async get<T extends KubeObject>(ref: ObjectRef) {
      const answer = await transport.request({ method: 'GET', path: await objectPath(ref) }, [404]);
      return answer.status === 404 ? undefined : asObject<T>(answer.body, `get ${describeRef(ref)}`);
    },

    async list<T extends KubeObject>(apiVersion: string, kind: string, namespace?: string, options: ListOptions = {}) {
      const info = await served(apiVersion, kind);
      const path = pathOf(info, namespace) + query(options);
      const body = (await transport.request({ method: 'GET', path })).body as
        { items?: unknown; metadata?: { resourceVersion?: unknown } } | undefined;
      const items = body?.items ?? [];
      const resourceVersion = body?.metadata?.resourceVersion;
      if (!Array.isArray(items) || typeof resourceVersion !== 'string') {
        throw new KubeError(0, INVALID_RESPONSE, `list ${kind}: the API server's answer is not a list`);
      }
      // The server leaves apiVersion and kind out of a list's items; callers expect whole objects.
      const whole = items.map((item: T) => ({ ...asObject<T>(item, `list ${kind}`), apiVersion, kind }));
      return { items: whole, resourceVersion } satisfies ObjectList<T>;
    },

    async create<T extends KubeObject>(object: T) {
      const info = await served(object.apiVersion, object.kind);
      const path = pathOf(info, object.metadata.namespace ?? conn.namespace);
      const what = `create ${describeRef({ ...object.metadata, kind: object.kind })}`;
      return asObject<T>((await transport.request({ method: 'POST', path, body: object })).body, what);
    },

    async replace<T extends KubeObject>(object: T, options: { status?: boolean } = {}) {
      const ref = { apiVersion: object.apiVersion, kind: object.kind, ...object.metadata };
      // Without a version the server would overwrite whatever is there: the very thing the contract forbids.
      if (!object.metadata.resourceVersion)
        throw new Error(`replace ${describeRef(ref)} without metadata.resourceVersion`);
      const path = await objectPath(ref, options.status);
      return asObject<T>(
        (await transport.request({ method: 'PUT', path, body: object })).body,
        `replace ${describeRef(ref)}`,
      );
    },

    async patch<T extends KubeObject>(ref: ObjectRef, type: PatchType, patch: unknown, options: PatchOptions = {}) {
      if (type === 'apply' && !options.fieldManager)
        throw new Error(`apply to ${describeRef(ref)} without a fieldManager`);
      const params = new URLSearchParams();
      if (options.fieldManager) params.set('fieldManager', options.fieldManager);
      if (type === 'apply' && options.force) params.set('force', 'true');
      const path = (await objectPath(ref, options.status)) + (params.size ? `?${params}` : '');
      const answer = await transport.request({ method: 'PATCH', path, body: patch, contentType: PATCH_TYPES[type] });
      return asObject<T>(answer.body, `patch ${describeRef(ref)}`);
    },

    async delete(ref: ObjectRef, options: DeleteOptions = {}) {
      const body = { apiVersion: 'v1', kind: 'DeleteOptions', ...options };
      const answer = await transport.request({ method: 'DELETE', path: await objectPath(ref), body }, [404]);
      return answer.status !== 404;
    },

    watch<T extends KubeObject>(
      apiVersion: string,
      kind: string,
      options: WatchOptions,
      onEvent: (event: WatchEvent<T>) => void,
    ): Watch {
      // Discovery is asynchronous and a Watch is not: the stream starts once the path is known.
      let inner: Watch | undefined;
      let stopped = false;
      const done = served(apiVersion, kind).then((info) => {
        if (stopped) return;
        const params = {
          watch: '1',
          allowWatchBookmarks: 'true',
          resourceVersion: options.resourceVersion,
          timeoutSeconds: String(all.timeoutSeconds),
        };
        const path = pathOf(info, options.namespace) + query(options, params);
        inner = openWatch(transport, { method: 'GET', path }, all, onEvent);
        return inner.done;
      });
      return {
        done,
        stop() {
          stopped = true;
          inner?.stop();
        },
      };
    },
  };
}

function query(options: ListOptions, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams(extra);
  if (options.labelSelector) params.set('labelSelector', options.labelSelector);
  if (options.fieldSelector) params.set('fieldSelector', options.fieldSelector);
  return params.size ? `?${params}` : '';
}
