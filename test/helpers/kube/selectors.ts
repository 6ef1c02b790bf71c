/**
 * Label selectors (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`) and the
 * field selectors every kind has (`metadata.name`, `metadata.namespace`), as `?labelSelector=`
 * and `?fieldSelector=` filter lists and watches. A selector that does not parse is a 400.
 */
import { badRequest } from './errors.js';
import type { StoredObject } from './store.js';

export type Selector = (object: StoredObject) => boolean;

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]{0,61}[a-z0-9A-Z])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

/** Splits on commas outside parentheses. */
function terms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    else if (text[i] === ',' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out.map((t) => t.trim()).filter((t) => t.length > 0);
}

function checked(key: string, values: string[], raw: string): void {
  if (!KEY.test(key) || values.some((v) => !VALUE.test(v)))
    throw badRequest(`unable to parse requirement: invalid label selector: ${JSON.stringify(raw)}`);
}

export function labelSelector(text: string | null): Selector {
  if (!text) return () => true;
  const tests = terms(text).map((term): ((labels: Record<string, string>) => boolean) => {
    let m = /^(!?)\s*([^\s!=(),]+)$/.exec(term);
    if (m) {
      checked(m[2]!, [], term);
      const [, not, key] = m as unknown as [string, string, string];
      return (l) => key in l !== (not === '!');
    }
    m = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(term);
    if (m) {
      const [, key, op, value] = m as unknown as [string, string, string, string];
      checked(key, [value], term);
      return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
    }
    m = /^([^\s!=(),]+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(term);
    if (m) {
      const [, key, op, list] = m as unknown as [string, string, string, string];
      const values = list.split(',').map((v) => v.trim());
      checked(key, values, term);
      return op === 'in'
        ? (l) => key in l && values.includes(l[key]!)
        : (l) => !(key in l) || !values.includes(l[key]!);
    }
    throw badRequest(`unable to parse requirement: invalid label selector: ${JSON.stringify(term)}`);
  });
  return (object) => {
    const labels = (object.metadata.labels ?? {}) as Record<string, string>;
    return tests.every((t) => t(labels));
  };
}

/** The fields a real API server selects core v1 Events by (besides metadata's). */
const EVENT_FIELDS = [
  'involvedObject.kind',
  'involvedObject.name',
  'involvedObject.namespace',
  'involvedObject.uid',
  'involvedObject.apiVersion',
  'reason',
  'type',
];

function eventField(o: StoredObject, field: string): string {
  const [top, sub] = field.split('.') as [string, string | undefined];
  const value = (o as unknown as Record<string, unknown>)[top];
  const picked = sub ? (value as Record<string, unknown> | undefined)?.[sub] : value;
  return typeof picked === 'string' ? picked : '';
}

export function fieldSelector(text: string | null): Selector {
  if (!text) return () => true;
  const tests = terms(text).map((term): Selector => {
    const m = /^([^\s!=]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    const read =
      field === 'metadata.name'
        ? (o: StoredObject) => o.metadata.name
        : field === 'metadata.namespace'
          ? (o: StoredObject) => o.metadata.namespace ?? ''
          : EVENT_FIELDS.includes(field)
            ? (o: StoredObject) => eventField(o, field)
            : undefined;
    if (!read) throw badRequest(`field label not supported: ${field}`);
    return op === '!=' ? (o) => read(o) !== value : (o) => read(o) === value;
  });
  return (object) => tests.every((t) => t(object));
}
