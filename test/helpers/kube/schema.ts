/**
 * The part of a CRD's structural OpenAPI v3 schema the real API server enforces on every
 * write, in the order it applies it: unknown fields pruned (unless
 * `x-kubernetes-preserve-unknown-fields`), defaults filled in, then validation — types,
 * required, enum, bounds, lengths, pattern, item counts, list-map keys and set uniqueness.
 * Written here (not a JSON Schema library) because pruning and defaulting walk the same
 * tree, and the Kubernetes extensions are not JSON Schema. CEL rules are not evaluated.
 */
import { fieldInvalid, fieldRequired, type StatusCause } from './errors.js';

export interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  nullable?: boolean;
  default?: unknown;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  [extension: string]: unknown;
}

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The schema of a field of an object, or undefined when the schema says nothing of it. */
export function fieldSchema(schema: Schema | undefined, key: string): Schema | undefined {
  if (!schema) return undefined;
  if (schema.properties?.[key]) return schema.properties[key];
  return isObject(schema.additionalProperties) ? (schema.additionalProperties as Schema) : undefined;
}

/** Prunes, defaults and validates `value` in place; the causes of every invalid field. */
export function admit(schema: Schema, value: unknown, path: string, pruned: string[] = []): StatusCause[] {
  const causes: StatusCause[] = [];
  walk(schema, value, path, { causes, defaults: true, pruned });
  return causes;
}

/** Only prunes, as an applied configuration is treated: it is partial, and its defaults are not its manager's. */
export function prune(schema: Schema, value: unknown, pruned: string[] = []): void {
  walk(schema, value, '', { causes: [], defaults: false, pruned });
}

interface Walk {
  causes: StatusCause[];
  defaults: boolean;
  /** The paths of fields removed as unknown, for `fieldValidation`. */
  pruned: string[];
}

function walk(schema: Schema, value: unknown, path: string, ctx: Walk): void {
  const causes = ctx.causes;
  if (value === null) {
    if (!schema.nullable)
      causes.push(fieldInvalid(path, null, `${path} in body must be of type ${schema.type ?? 'object'}: "null"`));
    return;
  }
  if (!typeOk(schema, value)) {
    causes.push(fieldInvalid(path, value, `${path} in body must be of type ${schema.type}: "${typeName(value)}"`));
    return;
  }
  if (isObject(value)) walkObject(schema, value, path, ctx);
  else if (Array.isArray(value)) walkArray(schema, value, path, ctx);
  else checkScalar(schema, value, path, causes);
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    const allowed = schema.enum.map((e) => JSON.stringify(e)).join(', ');
    causes.push({
      reason: 'FieldValueNotSupported',
      message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed}`,
      field: path,
    });
  }
  for (const part of schema.allOf ?? []) walk(part, value, path, ctx);
  for (const [word, options] of [
    ['anyOf', schema.anyOf],
    ['oneOf', schema.oneOf],
  ] as const) {
    if (!options) continue;
    const matching = options.filter((o) => admit(o, structuredClone(value), path).length === 0).length;
    if (word === 'anyOf' ? matching === 0 : matching !== 1)
      causes.push(
        fieldInvalid(
          path,
          value,
          `${path} in body must match ${word === 'anyOf' ? 'at least one' : 'exactly one'} schema in ${word}`,
        ),
      );
  }
}

function typeName(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function typeOk(schema: Schema, value: unknown): boolean {
  if (schema['x-kubernetes-int-or-string']) return typeof value === 'string' || Number.isInteger(value);
  switch (schema.type) {
    case undefined:
      return true;
    case 'object':
      return isObject(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    default:
      return false;
  }
}

function walkObject(schema: Schema, value: Record<string, unknown>, path: string, ctx: Walk): void {
  const causes = ctx.causes;
  const keep = schema['x-kubernetes-preserve-unknown-fields'] === true || schema.additionalProperties === true;
  const embedded = schema['x-kubernetes-embedded-resource'] === true;
  for (const key of Object.keys(value)) {
    const child = fieldSchema(schema, key);
    if (child) walk(child, value[key], join(path, key), ctx);
    else if (!keep && !(embedded && ['apiVersion', 'kind', 'metadata'].includes(key))) {
      delete value[key];
      ctx.pruned.push(join(path, key));
    }
  }
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    if (ctx.defaults && value[key] === undefined && child.default !== undefined)
      value[key] = structuredClone(child.default);
  }
  for (const key of schema.required ?? []) {
    if (value[key] === undefined) causes.push(fieldRequired(join(path, key)));
  }
}

function walkArray(schema: Schema, value: unknown[], path: string, ctx: Walk): void {
  const causes = ctx.causes;
  if (schema.minItems !== undefined && value.length < schema.minItems)
    causes.push(fieldInvalid(path, value.length, `${path} in body should have at least ${schema.minItems} items`));
  if (schema.maxItems !== undefined && value.length > schema.maxItems)
    causes.push({
      reason: 'FieldValueTooMany',
      message: `Too many: ${value.length}: must have at most ${schema.maxItems} items`,
      field: path,
    });
  value.forEach((item, i) => schema.items && walk(schema.items, item, `${path}[${i}]`, ctx));
  const listType = schema['x-kubernetes-list-type'];
  if (listType !== 'set' && listType !== 'map') return;
  const keys = schema['x-kubernetes-list-map-keys'] ?? [];
  const seen = new Set<string>();
  value.forEach((item, i) => {
    const identity =
      listType === 'set'
        ? JSON.stringify(item)
        : JSON.stringify(keys.map((k) => (isObject(item) ? item[k] : undefined)));
    if (seen.has(identity))
      causes.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: ${identity}`, field: `${path}[${i}]` });
    seen.add(identity);
  });
}

function checkScalar(schema: Schema, value: unknown, path: string, causes: StatusCause[]): void {
  if (typeof value === 'number') {
    const { minimum: min, maximum: max } = schema;
    if (min !== undefined && (schema.exclusiveMinimum ? value <= min : value < min))
      causes.push(
        fieldInvalid(
          path,
          value,
          `${path} in body should be greater than ${schema.exclusiveMinimum ? '' : 'or equal to '}${min}`,
        ),
      );
    if (max !== undefined && (schema.exclusiveMaximum ? value >= max : value > max))
      causes.push(
        fieldInvalid(
          path,
          value,
          `${path} in body should be less than ${schema.exclusiveMaximum ? '' : 'or equal to '}${max}`,
        ),
      );
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength)
      causes.push(fieldInvalid(path, value, `${path} in body should be at least ${schema.minLength} chars long`));
    if (schema.maxLength !== undefined && value.length > schema.maxLength)
      causes.push({
        reason: 'FieldValueTooLong',
        message: `Too long: may not be longer than ${schema.maxLength}`,
        field: path,
      });
    if (schema.pattern !== undefined && !safeRegExp(schema.pattern).test(value))
      causes.push(fieldInvalid(path, value, `${path} in body should match '${schema.pattern}'`));
  }
}

const patterns = new Map<string, RegExp>();
function safeRegExp(pattern: string): RegExp {
  let re = patterns.get(pattern);
  if (!re) {
    // A pattern a CRD declares that JavaScript cannot compile matches nothing, not a crash.
    try {
      re = new RegExp(pattern, 'u');
    } catch {
      re = /(?!)/;
    }
    patterns.set(pattern, re);
  }
  return re;
}

const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);

/** Why a CRD's schema is not one this server can enforce, or undefined when it is. */
export function structuralProblem(schema: unknown, path = 'openAPIV3Schema'): string | undefined {
  if (!isObject(schema)) return `${path}: must be an object`;
  const s = schema as Schema;
  if (
    s.type === undefined &&
    !s['x-kubernetes-int-or-string'] &&
    !s['x-kubernetes-preserve-unknown-fields'] &&
    path !== 'openAPIV3Schema'
  )
    return `${path}.type: Required value: must not be empty for specified object fields`;
  for (const [key, child] of Object.entries(s.properties ?? {})) {
    const problem = structuralProblem(child, `${path}.properties[${key}]`);
    if (problem) return problem;
  }
  if (s.items !== undefined) return structuralProblem(s.items, `${path}.items`);
  if (isObject(s.additionalProperties))
    return structuralProblem(s.additionalProperties, `${path}.additionalProperties`);
  return undefined;
}
