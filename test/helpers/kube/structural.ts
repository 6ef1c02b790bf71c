/**
 * What the API server checks of a custom resource against a structural schema, written
 * here from the Kubernetes documentation ("Specifying a structural schema", "Validation"):
 * types, required fields, enums, patterns, bounds, int-or-string and preserved fields, and
 * unknown fields, which `kubectl apply --validate=strict` refuses. Enough to ask whether
 * the CRD's schema accepts what zod accepts; not a full JSON Schema validator.
 */
type Node = Record<string, unknown>;

/** The problems of `value` under `schema`, each with its path; none when it is valid. */
export function structuralErrors(schema: Node, value: unknown, path = ''): string[] {
  if (schema['x-kubernetes-int-or-string'])
    return Number.isInteger(value) || typeof value === 'string' ? [] : [`${path}: must be an integer or a string`];
  const type = schema.type as string | undefined;
  if (type === undefined) return schema['x-kubernetes-preserve-unknown-fields'] ? [] : [`${path}: schema has no type`];
  const typeError = wrongType(type, value);
  if (typeError) return [`${path}: ${typeError}`];
  const errors: string[] = [];
  const fail = (message: string) => errors.push(`${path}: ${message}`);
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)))
    fail(`must be one of ${JSON.stringify(schema.enum)}`);
  if (typeof value === 'string') {
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value))
      fail('does not match pattern');
    if (typeof schema.minLength === 'number' && [...value].length < schema.minLength) fail('too short');
    if (typeof schema.maxLength === 'number' && [...value].length > schema.maxLength) fail('too long');
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) fail('below minimum');
    if (typeof schema.maximum === 'number' && value > schema.maximum) fail('above maximum');
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) fail('too few items');
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) fail('too many items');
    value.forEach((v, i) => errors.push(...structuralErrors(schema.items as Node, v, `${path}[${i}]`)));
  }
  if (type === 'object') errors.push(...objectErrors(schema, value as Record<string, unknown>, path));
  return errors;
}

function objectErrors(schema: Node, value: Record<string, unknown>, path: string): string[] {
  const errors: string[] = [];
  for (const key of (schema.required as string[] | undefined) ?? [])
    if (!(key in value)) errors.push(`${path}.${key}: required`);
  const props = schema.properties as Record<string, Node> | undefined;
  const extra = schema.additionalProperties as Node | undefined;
  for (const [key, v] of Object.entries(value)) {
    const sub = props?.[key] ?? extra;
    if (sub) errors.push(...structuralErrors(sub, v, `${path}.${key}`));
    else if (!schema['x-kubernetes-preserve-unknown-fields']) errors.push(`${path}.${key}: unknown field`);
  }
  return errors;
}

function wrongType(type: string, value: unknown): string | undefined {
  const ok =
    type === 'object'
      ? value !== null && typeof value === 'object' && !Array.isArray(value)
      : type === 'array'
        ? Array.isArray(value)
        : type === 'integer'
          ? Number.isInteger(value)
          : type === 'number'
            ? typeof value === 'number'
            : typeof value === type;
  return ok ? undefined : `must be ${type === 'integer' ? 'an integer' : `of type ${type}`}`;
}

/**
 * Kubernetes' JSONSchemaProps (k8s.io/apiextensions-apiserver, types_jsonschema.go), less
 * what a structural schema forbids ($ref, definitions, dependencies, additionalItems, and
 * `id`/`$schema`) and the logical junctors, which kanari never writes.
 */
const ALLOWED = new Set(
  `description type format title default maximum exclusiveMaximum minimum exclusiveMinimum maxLength minLength
   pattern maxItems minItems uniqueItems multipleOf enum maxProperties minProperties required items properties
   additionalProperties example nullable externalDocs x-kubernetes-preserve-unknown-fields
   x-kubernetes-embedded-resource x-kubernetes-int-or-string x-kubernetes-list-map-keys x-kubernetes-list-type
   x-kubernetes-map-type x-kubernetes-validations`.split(/\s+/),
);

/** Every rule of a structural schema this generator could break, checked at every node: the problems found. */
export function structuralViolations(node: Record<string, unknown>, path = 'spec'): string[] {
  const out: string[] = [];
  for (const key of Object.keys(node)) if (!ALLOWED.has(key)) out.push(`${path}: ${key} is not allowed`);
  const special = node['x-kubernetes-int-or-string'] || node['x-kubernetes-preserve-unknown-fields'];
  if (node.type === undefined && !special) out.push(`${path}: has no type`);
  if (node['x-kubernetes-int-or-string'] && node.type !== undefined) out.push(`${path}: int-or-string with a type`);
  if (node.properties && node.additionalProperties !== undefined)
    out.push(`${path}: properties and additionalProperties together`);
  if (node.additionalProperties === false || node.additionalProperties === true)
    out.push(`${path}: additionalProperties must be a schema`);
  if (node.type === 'array' && !node.items) out.push(`${path}: an array without items`);
  for (const flag of ['exclusiveMinimum', 'exclusiveMaximum'])
    if (node[flag] !== undefined && typeof node[flag] !== 'boolean') out.push(`${path}: ${flag} must be a boolean`);
  // The API server compiles patterns with Go's RE2: no lookaround, no backreferences.
  if (typeof node.pattern === 'string' && /\(\?<?[=!]|\\[1-9]/.test(node.pattern))
    out.push(`${path}: pattern RE2 cannot compile`);
  if (node.default !== undefined && structuralErrors(node, node.default).length > 0)
    out.push(`${path}: default ${JSON.stringify(node.default)} is not valid by its own schema`);
  for (const [k, v] of Object.entries((node.properties ?? {}) as Record<string, Record<string, unknown>>))
    out.push(...structuralViolations(v, `${path}.${k}`));
  if (typeof node.additionalProperties === 'object')
    out.push(...structuralViolations(node.additionalProperties as Record<string, unknown>, `${path}.*`));
  if (node.items) out.push(...structuralViolations(node.items as Record<string, unknown>, `${path}[]`));
  return out;
}
