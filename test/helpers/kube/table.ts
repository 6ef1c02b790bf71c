/**
 * The server-side printing kubectl asks for (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`):
 * a `meta.k8s.io/v1 Table` whose columns are Name plus a CRD's `additionalPrinterColumns`
 * (or Age when it declares none), and the few built-in columns kubectl users expect of
 * Deployments. Columns are read with the JSONPath subset printer columns use: `.a.b`,
 * `[n]`, and `[?(@.type=="Ready")]`.
 */
import type { Kind, PrinterColumn } from './kinds.js';
import { isObject } from './schema.js';
import type { StoredObject } from './store.js';

export const wantsTable = (accept: string | undefined): boolean => /as=Table/.test(accept ?? '');

const NAME: PrinterColumn = {
  name: 'Name',
  type: 'string',
  jsonPath: '.metadata.name',
  description: 'Name must be unique within a namespace.',
};
const AGE: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
};
const DEPLOYMENT: PrinterColumn[] = [
  { name: 'Ready', type: 'string', jsonPath: '' },
  { name: 'Up-to-date', type: 'integer', jsonPath: '.status.updatedReplicas' },
  { name: 'Available', type: 'integer', jsonPath: '.status.availableReplicas' },
];

function columnsOf(kind: Kind): PrinterColumn[] {
  if (kind.crd) return [NAME, ...(kind.printerColumns?.length ? kind.printerColumns : [AGE])];
  if (kind.kind === 'Deployment') return [NAME, ...DEPLOYMENT, AGE];
  return [NAME, AGE];
}

export function toTable(kind: Kind, objects: StoredObject[], resourceVersion: string): Record<string, unknown> {
  const columns = columnsOf(kind);
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: columns.map((c) => ({
      name: c.name,
      type: c.type,
      format: c === NAME ? 'name' : '',
      description: c.description ?? '',
      priority: c.priority ?? 0,
    })),
    rows: objects.map((o) => ({
      cells: columns.map((c) => cell(kind, c, o)),
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}

function cell(kind: Kind, column: PrinterColumn, object: StoredObject): unknown {
  if (kind.kind === 'Deployment' && column.name === 'Ready') {
    const status = isObject(object.status) ? object.status : {};
    const spec = isObject(object.spec) ? object.spec : {};
    return `${Number(status.readyReplicas ?? 0)}/${Number(spec.replicas ?? 0)}`;
  }
  // The built-in printers read typed fields, where an omitted count is 0.
  const value = jsonPath(object, column.jsonPath) ?? (kind.crd || column.type !== 'integer' ? undefined : 0);
  if (value === undefined || value === null) return null;
  if (column.type === 'date') return typeof value === 'string' ? age(value) : null;
  if (column.type === 'integer' || column.type === 'number') return typeof value === 'number' ? value : null;
  if (column.type === 'boolean') return typeof value === 'boolean' ? value : null;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The JSONPath subset of printer columns; undefined where the object has nothing. */
export function jsonPath(object: unknown, path: string): unknown {
  const steps = path.match(/\.[A-Za-z0-9_-]+|\[[0-9]+\]|\[\?\(@\.[A-Za-z0-9_-]+\s*==\s*(?:"[^"]*"|'[^']*')\)\]/g) ?? [];
  let at: unknown = object;
  for (const step of steps) {
    if (at === undefined) return undefined;
    if (step.startsWith('.')) at = isObject(at) ? at[step.slice(1)] : undefined;
    else if (/^\[[0-9]+\]$/.test(step)) at = Array.isArray(at) ? at[Number(step.slice(1, -1))] : undefined;
    else {
      const [, field, quoted] = /^\[\?\(@\.([A-Za-z0-9_-]+)\s*==\s*(.*)\)\]$/.exec(step)!;
      const wanted = quoted!.slice(1, -1);
      at = Array.isArray(at) ? at.find((e) => isObject(e) && String(e[field!]) === wanted) : undefined;
    }
  }
  return at;
}

/** How kubectl words an age (k8s.io/apimachinery duration.HumanDuration). */
export function age(timestamp: string): string {
  const seconds = Math.floor((Date.now() - Date.parse(timestamp)) / 1000);
  if (Number.isNaN(seconds)) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}
