/**
 * Refusals as the real API server words them: a `Status` body with its reason and code, so a
 * client's error handling is exercised against the same shapes it meets on a cluster.
 */

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

/** A refusal the server answers with a `Status`; thrown anywhere below the HTTP handler. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details: { name?: string; group?: string; kind?: string; causes?: StatusCause[] } = {},
  ) {
    super(message);
  }

  status(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(Object.keys(this.details).length > 0 ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** How the real server names a resource in messages: `deployments.apps "web"`. */
export interface Named {
  plural: string;
  group: string;
  name: string;
}

const resourceName = (r: Named): string => (r.group ? `${r.plural}.${r.group}` : r.plural);
const detailsOf = (r: Named) => ({ name: r.name, group: r.group, kind: r.plural });

export const notFound = (r: Named): ApiError =>
  new ApiError(404, 'NotFound', `${resourceName(r)} "${r.name}" not found`, detailsOf(r));

export const alreadyExists = (r: Named): ApiError =>
  new ApiError(409, 'AlreadyExists', `${resourceName(r)} "${r.name}" already exists`, detailsOf(r));

export const conflict = (
  r: Named,
  why = 'the object has been modified; please apply your changes to the latest version and try again',
): ApiError =>
  new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${resourceName(r)} "${r.name}": ${why}`,
    detailsOf(r),
  );

export const badRequest = (message: string): ApiError => new ApiError(400, 'BadRequest', message);

export const gone = (message: string): ApiError => new ApiError(410, 'Expired', message);

/** 422, with one cause per field, worded `<field>: Invalid value: …` as the real one does. */
export function invalid(r: Named & { kind: string }, causes: StatusCause[]): ApiError {
  const list = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  const text = list.length === 1 ? list[0] : `[${list.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${r.kind}${r.group ? `.${r.group}` : ''} "${r.name}" is invalid: ${text}`, {
    ...detailsOf(r),
    kind: r.kind,
    causes,
  });
}

/** The cause of one field's invalid value. */
export const fieldInvalid = (field: string, value: unknown, why: string): StatusCause => ({
  reason: 'FieldValueInvalid',
  message: `Invalid value: ${JSON.stringify(value) ?? 'null'}: ${why}`,
  field,
});

export const fieldRequired = (field: string): StatusCause => ({
  reason: 'FieldValueRequired',
  message: 'Required value',
  field,
});
