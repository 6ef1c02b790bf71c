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
