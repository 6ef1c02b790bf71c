/**
 * The `/scale` subresource of Deployments and ReplicaSets (`kubectl scale`, autoscalers): an
 * autoscaling/v1 Scale read from and written to `spec.replicas`, at the object's
 * resourceVersion when the Scale names one.
 */
import { ApiError, badRequest, fieldInvalid, invalid, notFound } from './errors.js';
import { jsonPatch, mergePatch } from './patch.js';
import { isObject } from './schema.js';
import type { ObjectStore, StoredObject } from './store.js';
import type { PatchKind, Target, WriteRequest, Writes } from './writes.js';

export function scaleOf(object: StoredObject): Record<string, unknown> {
  const spec = isObject(object.spec) ? object.spec : {};
  const status = isObject(object.status) ? object.status : {};
  const selector = isObject(spec.selector) && isObject(spec.selector.matchLabels) ? spec.selector.matchLabels : {};
  const { name, namespace, uid, resourceVersion, creationTimestamp } = object.metadata;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name, namespace, uid, resourceVersion, creationTimestamp },
    spec: { replicas: spec.replicas },
    status: {
      replicas: status.replicas ?? 0,
      selector: Object.entries(selector)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(','),
    },
  };
}

/** GET, PUT or PATCH (merge, JSON, strategic) of a Scale; the Scale after. */
export function serveScale(
  store: ObjectStore,
  writes: Writes,
  t: Target,
  method: string,
  body: unknown,
  patch: PatchKind | undefined,
  writer: WriteRequest,
): Record<string, unknown> {
  const main = { kind: t.kind, ...(t.namespace ? { namespace: t.namespace } : {}), name: t.name ?? '' };
  const current = store.get(t.kind, t.namespace, main.name);
  if (!current) throw notFound(writes.named(t, main.name));
  if (method === 'GET') return scaleOf(current);
  let wanted: unknown = body;
  if (method === 'PATCH') {
    if (patch === 'apply' || patch === undefined)
      throw new ApiError(
        415,
        'UnsupportedMediaType',
        'the test API server takes merge, JSON and strategic merge patches of /scale',
      );
    wanted = patch === 'json' ? jsonPatch(scaleOf(current), body) : mergePatch(scaleOf(current), body);
  } else if (method !== 'PUT')
    throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  if (!isObject(wanted) || !isObject(wanted.spec)) throw badRequest('a Scale needs a spec');
  const replicas = wanted.spec.replicas;
  if (!Number.isInteger(replicas) || (replicas as number) < 0)
    throw invalid({ plural: 'Scale', group: 'autoscaling', kind: 'Scale', name: main.name }, [
      fieldInvalid('spec.replicas', replicas ?? null, 'must be greater than or equal to 0'),
    ]);
  const rv = isObject(wanted.metadata) ? wanted.metadata.resourceVersion : undefined;
  const next = { ...current, spec: { ...(current.spec as object), replicas } };
  next.metadata = {
    ...current.metadata,
    resourceVersion: typeof rv === 'string' && rv !== '' ? rv : current.metadata.resourceVersion,
  };
  return scaleOf(writes.update(main, next, { ...writer, subresource: undefined }));
}
