/**
 * The field selector of the `web` provider: the part of JSONPath people use to point at
 * one value — `$.data.rate`, `$.items[0].value`, `$['odd key']` — optionally wrapped in
 * braces as Argo Rollouts writes it (`{$.data.rate}`). No filters, no wildcards.
 */
import type { Value } from './expression.js';

export type PathSegment = string | number;

export function parseJsonPath(text: string): PathSegment[] {
  let path = text.trim();
  if (path.startsWith('{') && path.endsWith('}')) path = path.slice(1, -1).trim();
  if (!path.startsWith('$')) throw new Error(`a JSON path starts with $ (got ${JSON.stringify(text)})`);
  const segments: PathSegment[] = [];
  let i = 1;
  const fail = (why: string) => new Error(`${why} at column ${i + 1} of JSON path ${JSON.stringify(path)}`);
  while (i < path.length) {
    if (path[i] === '.') {
      const m = /^[A-Za-z_$][\w$-]*/.exec(path.slice(i + 1));
      if (!m) throw fail('expected a field name after "."');
      segments.push(m[0]);
      i += 1 + m[0].length;
    } else if (path[i] === '[') {
      const rest = path.slice(i);
      const m = /^\[\s*(?:(\d+)|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*\]/.exec(rest);
      if (!m) throw fail("expected [index] or ['name']");
      segments.push(m[1] !== undefined ? Number(m[1]) : (m[2] ?? m[3]!).replace(/\\(.)/g, '$1'));
      i += m[0].length;
    } else {
      throw fail(`unexpected ${JSON.stringify(path[i])}`);
    }
  }
  return segments;
}

/** The value at `segments`, or undefined when any step is missing. */
export function selectPath(value: unknown, segments: readonly PathSegment[]): Value | undefined {
  let here: unknown = value;
  for (const s of segments) {
    if (typeof s === 'number') {
      if (!Array.isArray(here) || s >= here.length) return undefined;
      here = here[s];
    } else {
      if (here === null || typeof here !== 'object' || Array.isArray(here) || !Object.hasOwn(here, s)) return undefined;
      here = (here as Record<string, unknown>)[s];
    }
  }
  return here as Value;
}
