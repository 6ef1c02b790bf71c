/**
 * Managed fields: who owns which field. An update (PUT, merge or JSON patch) takes the
 * fields it changed from whoever owned them; an apply declares the whole set its manager
 * owns, conflicts (409) where it would change a field another manager owns unless forced,
 * and removes the fields its manager applied before and applies no more (if no one else
 * owns them). Lists are merged by key only where the schema says so; otherwise atomic.
 */
import { ApiError } from './errors.js';
import {
  decode,
  describePath,
  fieldSetOf,
  keyValue,
  fromFieldsV1,
  removeAt,
  toFieldsV1,
  valueAt,
  type FieldSet,
} from './fields.js';
import { fieldSchema, isObject, type Schema } from './schema.js';

export interface Owner {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  subresource?: string;
  fields: FieldSet;
}

type Obj = Record<string, unknown>;

/** The owners an object records; entries a client wrote in a shape not understood are dropped. */
export function ownersOf(object: Obj | undefined): Owner[] {
  const entries = isObject(object?.metadata) ? object.metadata.managedFields : undefined;
  if (!Array.isArray(entries)) return [];
  return entries.flatMap((e): Owner[] => {
    if (!isObject(e) || typeof e.manager !== 'string' || (e.operation !== 'Apply' && e.operation !== 'Update'))
      return [];
    return [
      {
        manager: e.manager,
        operation: e.operation,
        apiVersion: String(e.apiVersion ?? ''),
        time: String(e.time ?? ''),
        ...(typeof e.subresource === 'string' ? { subresource: e.subresource } : {}),
        fields: fromFieldsV1(e.fieldsV1),
      },
    ];
  });
}

/** Writes the owners into `object.metadata.managedFields`, dropping any left with no field. */
export function recordOwners(object: Obj, owners: Owner[]): void {
  const meta = object.metadata as Obj;
  const entries = owners
    .filter((o) => o.fields.size > 0)
    .map((o) => ({
      manager: o.manager,
      operation: o.operation,
      apiVersion: o.apiVersion,
      time: o.time,
      fieldsType: 'FieldsV1',
      fieldsV1: toFieldsV1(o.fields),
      ...(o.subresource ? { subresource: o.subresource } : {}),
    }));
  if (entries.length > 0) meta.managedFields = entries;
  else delete meta.managedFields;
}

export interface Writer {
  manager: string;
  apiVersion: string;
  subresource?: string;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

function entryOf(owners: Owner[], writer: Writer, operation: Owner['operation']): Owner {
  let owner = owners.find(
    (o) => o.manager === writer.manager && o.operation === operation && o.subresource === writer.subresource,
  );
  if (!owner) {
    owner = {
      manager: writer.manager,
      operation,
      apiVersion: writer.apiVersion,
      time: '',
      fields: new Set(),
      ...(writer.subresource ? { subresource: writer.subresource } : {}),
    };
    owners.push(owner);
  }
  owner.apiVersion = writer.apiVersion;
  owner.time = now();
  return owner;
}

/** Drops, from every owner, fields the object no longer has. */
function forgetMissing(owners: Owner[], object: Obj): void {
  for (const o of owners) for (const p of o.fields) if (valueAt(object, p) === undefined) o.fields.delete(p);
}

/** After a write that is not an apply: the writer owns what it changed. */
export function recordUpdate(before: Obj | undefined, after: Obj, schema: Schema, writer: Writer): void {
  const owners = ownersOf(before);
  const changed = [...fieldSetOf(after, schema)].filter((p) => !same(valueAt(before, p), valueAt(after, p)));
  if (changed.length > 0) {
    for (const o of owners) for (const p of changed) o.fields.delete(p);
    const mine = entryOf(owners, writer, 'Update');
    for (const p of changed) mine.fields.add(p);
  }
  forgetMissing(owners, after);
  recordOwners(after, owners);
}

/**
 * Server-side apply of `applied` (already pruned and defaulted) onto `live` (undefined to
 * create): the merged object, with managed fields recorded. Throws 409 on conflicts.
 */
export function serverSideApply(
  live: Obj | undefined,
  applied: Obj,
  schema: Schema,
  writer: Writer,
  force: boolean,
): Obj {
  const owners = ownersOf(live);
  const mine = entryOf(owners, writer, 'Apply');
  const previous = new Set(mine.fields);
  const set = fieldSetOf(applied, schema);
  const conflicts: { owner: Owner; path: string }[] = [];
  for (const path of set) {
    const theirs = valueAt(live, path);
    if (theirs === undefined || (isElement(path) ? true : same(theirs, valueAt(applied, path)))) continue;
    for (const o of owners) if (o !== mine && o.fields.has(path)) conflicts.push({ owner: o, path });
  }
  if (conflicts.length > 0 && !force) throw conflictError(conflicts);
  for (const { owner, path } of conflicts) owner.fields.delete(path);
  const merged = merge(live ?? {}, applied, schema) as Obj;
  for (const path of previous) {
    if (!set.has(path) && !owners.some((o) => o !== mine && o.fields.has(path))) removeAt(merged, path);
  }
  mine.fields = set;
  forgetMissing(owners, merged);
  recordOwners(merged, owners);
  return merged;
}

function isElement(path: string): boolean {
  const last = decode(path).pop() ?? '';
  return last.startsWith('k:') || last.startsWith('v:');
}

function conflictError(conflicts: { owner: Owner; path: string }[]): ApiError {
  const n = conflicts.length;
  const byManager = new Map<string, string[]>();
  for (const c of conflicts) {
    const who = `"${c.owner.manager}"${c.owner.subresource ? ` with subresource "${c.owner.subresource}"` : ''} using ${c.owner.apiVersion}`;
    byManager.set(who, [...(byManager.get(who) ?? []), describePath(c.path)]);
  }
  const parts = [...byManager].map(([who, paths]) =>
    paths.length === 1
      ? `conflict with ${who}: ${paths[0]}`
      : `conflicts with ${who}:\n${paths.map((p) => `- ${p}`).join('\n')}`,
  );
  const causes = conflicts.map((c) => ({
    reason: 'FieldManagerConflict',
    message: `conflict with "${c.owner.manager}" using ${c.owner.apiVersion}`,
    field: describePath(c.path),
  }));
  return new ApiError(409, 'Conflict', `Apply failed with ${n} conflict${n === 1 ? '' : 's'}: ${parts.join('\n')}`, {
    causes,
  });
}

/** Applied values over live ones: maps field by field, keyed lists by key, sets as a union, all else whole. */
function merge(live: unknown, applied: unknown, schema: Schema | undefined): unknown {
  if (isObject(live) && isObject(applied) && schema?.['x-kubernetes-map-type'] !== 'atomic') {
    const out: Obj = { ...live };
    for (const [key, value] of Object.entries(applied)) out[key] = merge(live[key], value, fieldSchema(schema, key));
    return out;
  }
  const type = schema?.['x-kubernetes-list-type'];
  if (Array.isArray(live) && Array.isArray(applied) && type === 'map') {
    const keys = schema?.['x-kubernetes-list-map-keys'] ?? [];
    const out = [...live];
    for (const item of applied) {
      const i = out.findIndex((e) =>
        keys.every((k) => same(keyValue(e, k, schema?.items), keyValue(item, k, schema?.items))),
      );
      if (i >= 0) out[i] = merge(out[i], item, schema?.items);
      else out.push(item);
    }
    return out;
  }
  if (Array.isArray(live) && Array.isArray(applied) && type === 'set')
    return [...live, ...applied.filter((v) => !live.some((l) => same(l, v)))];
  return structuredClone(applied);
}
