import { readFileSync } from 'node:fs';
import { LineCounter, isMap, isNode, parseAllDocuments, type Document, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { checkLimits, LIMITS, positionOf, type TextLimits } from './bounds.js';
import { ConfigError, formatPath, type ConfigIssue } from './errors.js';
import { describeValue, errorMap } from './messages.js';
import { checkNodes } from './nodes.js';
import { didYouMean } from './suggest.js';

type AnySchema = z.ZodType;
type Issue = z.core.$ZodIssue;

/** Reads one YAML (or JSON) file and validates it against `schema`. Throws ConfigError. */
export function loadFile<S extends AnySchema>(file: string, schema: S): z.output<S> {
  return parseText(loadFileText(file), file, schema);
}

export function loadFileText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new ConfigError([{ file, line: 1, col: 1, path: '', message: reason }]);
  }
}

/** Parses YAML text (JSON is YAML too) holding exactly one document and validates it. */
export function parseText<S extends AnySchema>(
  text: string,
  file: string,
  schema: S,
  limits: TextLimits = LIMITS,
): z.output<S> {
  const [only, ...rest] = parseDocuments(text, file, limits);
  if (!only) throw new ConfigError([{ file, line: 1, col: 1, path: '', message: 'is empty' }]);
  if (rest.length > 0) {
    const at = rest[0]!.located([]);
    throw new ConfigError([{ ...at, message: 'holds more than one document; put one per file' }]);
  }
  return only.validate(schema);
}

/** One parsed YAML document that can locate any path in its source and validate itself. */
export interface ParsedDocument {
  readonly value: unknown;
  located(path: readonly PropertyKey[], opts?: { key?: boolean }): Omit<ConfigIssue, 'message'>;
  validate<S extends AnySchema>(schema: S): z.output<S>;
}

/**
 * Parses every document in `text`. Depth, size and aliases are bounded before yaml
 * composes anything (see bounds.ts for why), so no text can take the process down.
 */
export function parseDocuments(text: string, file: string, limits: TextLimits = LIMITS): ParsedDocument[] {
  const breach = checkLimits(text, limits);
  if (breach) throw new ConfigError([{ file, ...positionOf(text, breach.offset), path: '', message: breach.message }]);
  const lines = new LineCounter();
  // Duplicate keys are found by checkNodes: yaml's own check is quadratic in a map's size.
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const list = Array.isArray(docs) ? docs : [];
  const issues: ConfigIssue[] = [];
  for (const doc of list) {
    for (const err of doc.errors) {
      const pos = lines.linePos(err.pos[0]);
      issues.push({ file, line: pos.line, col: pos.col, path: '', message: yamlMessage(err.message) });
    }
  }
  if (issues.length === 0) {
    for (const doc of list) {
      for (const issue of checkNodes(doc, limits.maxValues))
        issues.push({ file, ...lines.linePos(issue.offset), path: formatPath(issue.path), message: issue.message });
    }
  }
  if (issues.length > 0) throw new ConfigError(capped(issues));
  return list.filter((doc) => doc.contents !== null).map((doc) => documentOf(doc, file, lines));
}

/** More issues than this are counted, not listed: 9,000 unknown keys took seconds to locate and 690 KB to print. */
const MAX_ISSUES = 20;

/** The first MAX_ISSUES issues, and a line counting the rest where they start. */
function capped(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return issues.length <= MAX_ISSUES
    ? [...issues]
    : [...issues.slice(0, MAX_ISSUES), more(issues[MAX_ISSUES]!, issues.length - MAX_ISSUES)];
}

function more(at: ConfigIssue, count: number): ConfigIssue {
  return { ...at, path: '', message: `${count} more issues from here on, not shown` };
}

function yamlMessage(message: string): string {
  // The yaml package appends a location we already report; keep its first sentence only.
  return message.split(/ at line \d+/)[0]!.replace(/\.$/, '');
}

function documentOf(doc: Document, file: string, lines: LineCounter): ParsedDocument {
  const located = (path: readonly PropertyKey[], opts: { key?: boolean } = {}) => {
    const offset = offsetOf(doc, path, opts.key ?? false);
    const pos = lines.linePos(offset);
    return { file, line: pos.line, col: pos.col, path: formatPath(path) };
  };
  let value: unknown;
  try {
    // checkNodes bounded what aliases expand to; yaml's own count refuses an anchor used 101 times.
    value = doc.toJS({ maxAliasCount: -1 });
  } catch (err) {
    throw new ConfigError([{ ...located([]), message: `cannot be read: ${(err as Error).message}` }]);
  }
  return {
    value,
    located,
    validate(schema) {
      const result = schema.safeParse(value, { error: errorMap, reportInput: true });
      if (result.success) return result.data;
      // Located only up to the cap: locating is a search through each map on the way.
      const found = toConfigIssues(result.error.issues, [], schema);
      const locate = (i: Unlocated): ConfigIssue => ({ ...located(i.path, { key: i.key }), message: i.message() });
      const shown = found
        .slice(0, MAX_ISSUES)
        .map(locate)
        .sort((a, b) => a.line - b.line || a.col - b.col);
      throw new ConfigError(
        found.length > MAX_ISSUES ? [...shown, more(locate(found[MAX_ISSUES]!), found.length - MAX_ISSUES)] : shown,
      );
    },
  };
}

/** Source offset of the node at `path`, or of its nearest existing ancestor. */
function offsetOf(doc: Document, path: readonly PropertyKey[], wantKey: boolean): number {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    const part = path[i];
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isNode(item.key) && (item.key as YamlNode & { value?: unknown }).value === part,
      );
      if (!pair) return offset;
      if (wantKey && i === path.length - 1) return rangeStart(pair.key) ?? offset;
      node = pair.value;
    } else if (isNode(node) && 'items' in node && Array.isArray(node.items) && typeof part === 'number') {
      node = node.items[part];
    } else {
      return offset;
    }
    offset = rangeStart(node) ?? offset;
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  return isNode(node) && node.range ? node.range[0] : undefined;
}

/** An issue before it is located (where in the document, and whether about the key there) and worded. */
interface Unlocated {
  path: PropertyKey[];
  key: boolean;
  message: () => string;
}

function toConfigIssues(issues: readonly Issue[], base: readonly PropertyKey[], schema: AnySchema): Unlocated[] {
  const out: Unlocated[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    if (issue.code === 'invalid_union') {
      out.push(...toConfigIssues(closestBranch(issue.errors), path, schema));
    } else if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(schema, path);
      const message = (key: string) => {
        const guess = didYouMean(key, known);
        return `unknown key${guess ? ` (did you mean "${guess}"?)` : known.length ? ` (expected one of: ${known.join(', ')})` : ''}`;
      };
      for (const key of issue.keys) out.push({ path: [...path, key], key: true, message: () => message(key) });
    } else {
      const input = (issue as { input?: unknown }).input;
      // A map or list is only worth naming when its type was the problem.
      const showInput =
        input !== undefined && (input === null || typeof input !== 'object' || issue.code === 'invalid_type');
      out.push({
        path,
        key: false,
        message: () => `${issue.message}${showInput ? ` (got ${describeValue(input)})` : ''}`,
      });
    }
  }
  return out;
}

/** Of a union's branches, the one the author most likely meant: fewest errors at its root, then fewest errors. */
function closestBranch(branches: readonly (readonly Issue[])[]): readonly Issue[] {
  const score = (issues: readonly Issue[]) => issues.filter((i) => i.path.length === 0).length * 1000 + issues.length;
  return [...branches].sort((a, b) => score(a) - score(b))[0] ?? [];
}

/** The keys an object schema at `path` accepts, for "did you mean". */
export function knownKeys(schema: AnySchema, path: readonly PropertyKey[]): string[] {
  const keys = new Set<string>();
  const visit = (node: AnySchema | undefined, rest: readonly PropertyKey[]): void => {
    const s = unwrap(node);
    if (!s) return;
    const def = (s as unknown as { def: Record<string, unknown> & { type: string } }).def;
    if (def.type === 'union') {
      for (const option of def.options as AnySchema[]) visit(option, rest);
      return;
    }
    if (rest.length === 0) {
      if (def.type === 'object') for (const k of Object.keys(def.shape as object)) keys.add(k);
      return;
    }
    const [head, ...tail] = rest;
    if (def.type === 'object') visit((def.shape as Record<string, AnySchema>)[String(head)], tail);
    else if (def.type === 'array') visit(def.element as AnySchema, tail);
    else if (def.type === 'record') visit(def.valueType as AnySchema, tail);
  };
  visit(schema, path);
  return [...keys];
}

function unwrap(schema: AnySchema | undefined): AnySchema | undefined {
  let s = schema;
  for (let i = 0; s && i < 20; i++) {
    const def = (s as unknown as { def: Record<string, unknown> & { type: string } }).def;
    if (['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional'].includes(def.type))
      s = def.innerType as AnySchema;
    else if (def.type === 'pipe') s = def.in as AnySchema;
    else if (def.type === 'lazy') s = (def.getter as () => AnySchema)();
    else return s;
  }
  return s;
}
