/**
 * The rules of a write that are not a schema's: names, unknown fields per `fieldValidation`,
 * what changes a generation, and the checks of built-in kinds a schema cannot say.
 */
import { badRequest, fieldInvalid, type StatusCause } from './errors.js';
import type { Kind } from './kinds.js';
import { isObject } from './schema.js';
import type { StoredObject } from './store.js';
import type { WriteRequest } from './writes.js';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** Names as the real server checks them: DNS-1123 subdomains, labels for Namespaces, DNS-1035 labels for Services. */
export function checkName(kind: Kind, name: string): StatusCause[] {
  const rule = kind.kind === 'Namespace' ? DNS_LABEL : kind.kind === 'Service' ? DNS_1035 : DNS_SUBDOMAIN;
  const limit = rule === DNS_SUBDOMAIN ? 253 : 63;
  if (rule.test(name) && name.length <= limit) return [];
  return [
    fieldInvalid(
      'metadata.name',
      name,
      `a lowercase RFC 1123 ${rule === DNS_SUBDOMAIN ? 'subdomain' : 'label'} must consist of lower case alphanumeric characters or '-'`,
    ),
  ];
}

/** Unknown fields pruned from a write: Strict refuses them (400), otherwise a Warning header names them (unless Ignore). */
export function unknownFields(pruned: string[], writer: WriteRequest): void {
  if (pruned.length === 0) return;
  if (writer.fieldValidation === 'Strict')
    throw badRequest(`strict decoding error: ${pruned.map((p) => `unknown field "${p}"`).join(', ')}`);
  if (writer.fieldValidation !== 'Ignore') writer.warnings?.push(...pruned.map((p) => `unknown field "${p}"`));
}

/** Generation counts changes of intent: anything outside metadata and (where it is a subresource) status. */
export function specChanged(kind: Kind, before: StoredObject, after: StoredObject): boolean {
  const intent = (o: StoredObject) => {
    const { metadata: _m, status, apiVersion: _a, kind: _k, ...rest } = o;
    return JSON.stringify(kind.status ? rest : { ...rest, status });
  };
  return intent(before) !== intent(after);
}

/** The checks of built-in kinds a schema cannot say: a Deployment's selector must select its template. */
export function validateKind(kind: Kind, object: StoredObject): StatusCause[] {
  const controllers = (object.metadata.ownerReferences ?? []).filter((r) => r.controller === true);
  if (controllers.length > 1)
    return [
      fieldInvalid(
        'metadata.ownerReferences',
        controllers.map((r) => r.name),
        'Only one reference can have Controller set to true',
      ),
    ];
  if (kind.group !== 'apps' || !isObject(object.spec)) return [];
  const spec = object.spec;
  const wanted = isObject(spec.selector) && isObject(spec.selector.matchLabels) ? spec.selector.matchLabels : {};
  const template =
    isObject(spec.template) && isObject(spec.template.metadata) && isObject(spec.template.metadata.labels)
      ? spec.template.metadata.labels
      : {};
  if (Object.keys(wanted).length === 0)
    return [fieldInvalid('spec.selector', spec.selector ?? null, 'empty selector is invalid for deployment')];
  if (Object.entries(wanted).every(([k, v]) => template[k] === v)) return [];
  return [fieldInvalid('spec.template.metadata.labels', template, '`selector` does not match template `labels`')];
}
