/**
 * Field paths and field sets as server-side apply tracks them (sigs.k8s.io/structured-merge-diff):
 * `f:<name>` for a field of a map, `k:{"name":"app"}` for an element of a list keyed by
 * `x-kubernetes-list-map-keys`, `v:<value>` for an element of a set. A list with neither
 * type is ATOMIC — one leaf, owned and replaced whole — which is why an apply of an
 * HTTPRoute's `rules` takes every rule. Paths are JSON arrays of segments, kept as strings.
 */
import { fieldSchema, isObject, type Schema } from './schema.js';

export type FieldSet = Set<string>;

/** Metadata the server writes itself, never part of anyone's field set. */
const SERVER_METADATA = [
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
];

const encode = (segments: string[]): string => JSON.stringify(segments);
export const decode = (path: string): string[] => JSON.parse(path) as string[];

const listType = (s: Schema | undefined) => s?.['x-kubernetes-list-type'] ?? 'atomic';
const keysOf = (s: Schema | undefined) => s?.['x-kubernetes-list-map-keys'] ?? [];

/** A key field of a list element, defaulted as the server would default it (ports' `protocol`). */
export function keyValue(item: unknown, key: string, items: Schema | undefined): unknown {
  return (isObject(item) ? item[key] : undefined) ?? items?.properties?.[key]?.default;
}

function keySegment(item: unknown, keys: string[], items: Schema | undefined): string {
  const id: Record<string, unknown> = {};
  for (const k of [...keys].sort()) if (keyValue(item, k, items) !== undefined) id[k] = keyValue(item, k, items);
  return `k:${JSON.stringify(id)}`;
}

/** Every field `object` sets, as apply and update ownership count them. */
export function fieldSetOf(object: Record<string, unknown>, schema: Schema): FieldSet {
  const out: FieldSet = new Set();
  for (const [key, value] of Object.entries(object)) {
    if (key === 'apiVersion' || key === 'kind') continue;
    if (key === 'metadata' && isObject(value)) {
      for (const [m, v] of Object.entries(value))
        if (!SERVER_METADATA.includes(m))
          collect(v, fieldSchema(fieldSchema(schema, 'metadata'), m), ['f:metadata', `f:${m}`], out);
    } else collect(value, fieldSchema(schema, key), [`f:${key}`], out);
  }
  return out;
}

function collect(value: unknown, schema: Schema | undefined, at: string[], out: FieldSet): void {
  if (isObject(value) && schema?.['x-kubernetes-map-type'] !== 'atomic' && Object.keys(value).length > 0) {
    for (const [key, v] of Object.entries(value)) collect(v, fieldSchema(schema, key), [...at, `f:${key}`], out);
  } else if (Array.isArray(value) && value.length > 0 && listType(schema) === 'map') {
    for (const item of value) {
      const here = [...at, keySegment(item, keysOf(schema), schema?.items)];
      out.add(encode(here));
      if (isObject(item))
        for (const [key, v] of Object.entries(item))
          collect(v, fieldSchema(schema?.items, key), [...here, `f:${key}`], out);
    }
  } else if (Array.isArray(value) && value.length > 0 && listType(schema) === 'set') {
    for (const item of value) out.add(encode([...at, `v:${JSON.stringify(item)}`]));
  } else out.add(encode(at));
}

/** The value at a path; undefined when the object has nothing there. */
export function valueAt(object: unknown, path: string): unknown {
  let at: unknown = object;
  for (const segment of decode(path)) {
    at = step(at, segment)?.value;
    if (at === undefined) return undefined;
  }
  return at;
}

function step(at: unknown, segment: string): { value: unknown; remove(): void } | undefined {
  const kind = segment.slice(0, 2);
  const rest = segment.slice(2);
  if (kind === 'f:' && isObject(at) && at[rest] !== undefined)
    return { value: at[rest], remove: () => delete at[rest] };
  if (!Array.isArray(at)) return undefined;
  const wanted: unknown = JSON.parse(rest);
  const index =
    kind === 'k:'
      ? at.findIndex(
          (item) =>
            isObject(item) &&
            Object.entries(wanted as object).every(([k, v]) => JSON.stringify(item[k]) === JSON.stringify(v)),
        )
      : at.findIndex((item) => JSON.stringify(item) === rest);
  return index < 0 ? undefined : { value: at[index], remove: () => at.splice(index, 1) };
}

/** Removes what is at a path (a field, a keyed element, a set member), if anything. */
export function removeAt(object: unknown, path: string): void {
  const segments = decode(path);
  let at: unknown = object;
  for (const segment of segments.slice(0, -1)) {
    at = step(at, segment)?.value;
    if (at === undefined) return;
  }
  step(at, segments[segments.length - 1]!)?.remove();
}

/** A path as the real server prints it in a conflict: `.spec.template.spec.containers[name="app"].image`. */
export function describePath(path: string): string {
  return decode(path)
    .map((s) => {
      if (s.startsWith('f:')) return `.${s.slice(2)}`;
      if (s.startsWith('v:')) return `[=${s.slice(2)}]`;
      const keys = Object.entries(JSON.parse(s.slice(2)) as object).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
      return `[${keys.join(',')}]`;
    })
    .join('');
}

/** `fieldsV1`: the set as a tree; `.` marks a node owned that also has owned children. */
export function toFieldsV1(set: FieldSet): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  const owned = new Set<Record<string, unknown>>();
  for (const path of set) {
    let node = root;
    for (const segment of decode(path)) node = (node[segment] ??= {}) as Record<string, unknown>;
    owned.add(node);
  }
  const mark = (node: Record<string, unknown>): void => {
    const children = Object.values(node) as Record<string, unknown>[];
    if (owned.has(node) && children.length > 0) node['.'] = {};
    children.forEach(mark);
  };
  mark(root);
  return root;
}

export function fromFieldsV1(tree: unknown, at: string[] = [], out: FieldSet = new Set()): FieldSet {
  if (!isObject(tree)) return out;
  for (const [key, child] of Object.entries(tree)) {
    if (key === '.') out.add(encode(at));
    else if (isObject(child) && Object.keys(child).length === 0) out.add(encode([...at, key]));
    else fromFieldsV1(child, [...at, key], out);
  }
  return out;
}
