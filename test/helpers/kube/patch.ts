/**
 * JSON merge patch (RFC 7386) and JSON patch (RFC 6902), as `PATCH` applies them. A patch
 * that does not apply (a `test` that fails, a path that is not there) is the client's error:
 * 422, as recent servers answer it (1.20 said 500 for some), never a crash.
 */
import { ApiError, badRequest } from './errors.js';
import { keyValue } from './fields.js';
import { fieldSchema, isObject, type Schema } from './schema.js';

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

interface Operation {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

export function jsonPatch(target: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let doc = structuredClone(target);
  for (const raw of patch) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string')
      throw badRequest(
        'the server rejected our request due to an error in our request: each operation needs op and path strings',
      );
    const op = raw as unknown as Operation;
    doc = applyOperation(doc, op);
  }
  return doc;
}

function applyOperation(doc: unknown, op: Operation): unknown {
  switch (op.op) {
    case 'add':
      return put(doc, pointer(op.path), requireValue(op), true);
    case 'replace':
      get(doc, pointer(op.path));
      return put(doc, pointer(op.path), requireValue(op), false);
    case 'remove':
      return remove(doc, pointer(op.path));
    case 'test': {
      const actual = get(doc, pointer(op.path));
      if (JSON.stringify(actual) !== JSON.stringify(op.value))
        throw new ApiError(
          422,
          'Invalid',
          `the server rejected our request due to an error in our request: testing value ${op.path} failed: test failed`,
        );
      return doc;
    }
    case 'move':
    case 'copy': {
      if (typeof op.from !== 'string') throw failed(`"from" is missing in ${op.op} operation`);
      const value = structuredClone(get(doc, pointer(op.from)));
      const rest = op.op === 'move' ? remove(doc, pointer(op.from)) : doc;
      return put(rest, pointer(op.path), value, true);
    }
    default:
      throw failed(`Unexpected kind: ${op.op}`);
  }
}

const failed = (why: string): ApiError =>
  new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${why}`);

function requireValue(op: Operation): unknown {
  if (!('value' in op)) throw failed(`"value" is missing in ${op.op} operation`);
  return structuredClone(op.value);
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw failed(`JSON pointer must start with /: ${path}`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function child(
  parent: unknown,
  key: string,
  forAdd: boolean,
): { container: Record<string, unknown> | unknown[]; index: string | number } {
  if (Array.isArray(parent)) {
    if (forAdd && key === '-') return { container: parent, index: parent.length };
    const index = Number(key);
    if (!/^(0|[1-9][0-9]*)$/.test(key) || index > parent.length || (!forAdd && index === parent.length))
      throw failed(`Unable to access invalid index: ${key}`);
    return { container: parent, index };
  }
  if (isObject(parent)) return { container: parent, index: key };
  throw failed(`doc is missing path: ${key}`);
}

function get(doc: unknown, path: string[]): unknown {
  let at = doc;
  for (const key of path) {
    const { container, index } = child(at, key, false);
    at = (container as Record<string | number, unknown>)[index];
    if (at === undefined) throw failed(`doc is missing key: ${key}`);
  }
  return at;
}

function put(doc: unknown, path: string[], value: unknown, insert: boolean): unknown {
  if (path.length === 0) return value;
  const parent = get(doc, path.slice(0, -1));
  const { container, index } = child(parent, path[path.length - 1]!, insert);
  if (Array.isArray(container)) container.splice(index as number, insert ? 0 : 1, value);
  else container[index as string] = value;
  return doc;
}

function remove(doc: unknown, path: string[]): unknown {
  if (path.length === 0) throw failed('cannot remove the whole document');
  const parent = get(doc, path.slice(0, -1));
  const { container, index } = child(parent, path[path.length - 1]!, false);
  if (Array.isArray(container)) container.splice(index as number, 1);
  else if (!(index in container)) throw failed(`Unable to remove nonexistent key: ${index}`);
  else delete container[index as string];
  return doc;
}

/**
 * Strategic merge patch, the cheap part of it: a merge patch whose lists merge by key where
 * the kind's schema says they do (containers by name, ports by port and protocol), with
 * `$patch: replace|delete`; order hints (`$setElementOrder`, which kubectl apply sends) are
 * ignored, and other directives refused rather than stored as fields.
 */
export function strategicMergePatch(target: unknown, patch: unknown, schema: Schema | undefined): unknown {
  if (Array.isArray(patch)) return mergeList(target, patch, schema);
  if (!isObject(patch)) return structuredClone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return structuredClone(rest);
  }
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$setElementOrder/') || key === '$retainKeys') continue;
    if (key.startsWith('$'))
      throw badRequest(`the test API server does not implement the strategic merge directive ${key}`);
    if (value === null) delete out[key];
    else out[key] = strategicMergePatch(out[key], value, fieldSchema(schema, key));
  }
  return out;
}

function mergeList(target: unknown, patch: unknown[], schema: Schema | undefined): unknown {
  if (!Array.isArray(target) || schema?.['x-kubernetes-list-type'] !== 'map') return structuredClone(patch);
  const keys = schema['x-kubernetes-list-map-keys'] ?? [];
  const same = (a: unknown, b: unknown) =>
    keys.every((k) => JSON.stringify(keyValue(a, k, schema.items)) === JSON.stringify(keyValue(b, k, schema.items)));
  const out = [...target];
  for (const item of patch) {
    const i = out.findIndex((e) => same(e, item));
    if (isObject(item) && item.$patch === 'delete') {
      if (i >= 0) out.splice(i, 1);
    } else if (i >= 0) out[i] = strategicMergePatch(out[i], item, schema.items);
    else out.push(structuredClone(item));
  }
  return out;
}
