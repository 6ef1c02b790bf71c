/**
 * A header or cookie route as the conditions a mesh matches on: an exact value, a prefix,
 * or a regular expression, and back. Neither the Gateway API nor Istio matches cookies, so
 * a cookie route is a regular expression on the `Cookie` header. Regular expressions are
 * written to mean the same whether the data plane matches the whole value (Envoy's RE2) or
 * searches in it, as kanari's router does: `.*(?:re).*` searches for `re`.
 */
import type { HeaderRoute } from '../../rollout/types.js';
import { TrafficRefused } from '../../rollout/seams/traffic.js';

/** What a route matches on, in the mesh's terms (Istio has a prefix match; the Gateway API writes a regex). */
export type Condition = { exact: string } | { prefix: string } | { regex: string };

const SPECIAL = /[\\^$.*+?()[\]{}|]/g;

export function escapeRegex(text: string): string {
  return text.replace(SPECIAL, '\\$&');
}

/** The text an escaped one stands for, or undefined when it has an unescaped special character. */
function unescapeRegex(re: string): string | undefined {
  let out = '';
  for (let i = 0; i < re.length; i++) {
    const c = re[i]!;
    if (c === '\\') {
      const next = re[++i];
      if (next === undefined || !'\\^$.*+?()[]{}|'.includes(next)) return undefined;
      out += next;
    } else if ('^$.*+?()[]{}|'.includes(c)) return undefined;
    else out += c;
  }
  return out;
}

const SEARCH = ['.*(?:', ').*'] as const;
const COOKIE = ['^(?:.*;\\s*)?', '(?:\\s*;.*)?$'] as const;
const COOKIE_ANY = '[^;]*';

function unwrap(text: string, [open, close]: readonly [string, string]): string | undefined {
  return text.length >= open.length + close.length && text.startsWith(open) && text.endsWith(close)
    ? text.slice(open.length, text.length - close.length)
    : undefined;
}

/** The header a route looks at (a cookie route looks at `cookieHeader`), and its condition. */
export function conditionOf(
  route: HeaderRoute,
  cookieHeader: string,
  prefixes: boolean,
): { header: string; condition: Condition } {
  if (route.header !== undefined) {
    if (route.value !== undefined) return { header: route.header, condition: { exact: route.value } };
    if (route.prefix !== undefined)
      return {
        header: route.header,
        condition: prefixes ? { prefix: route.prefix } : { regex: `^${escapeRegex(route.prefix)}.*` },
      };
    if (route.regex !== undefined) return { header: route.header, condition: { regex: SEARCH.join(route.regex) } };
  } else if (route.cookie !== undefined) {
    const value =
      route.value !== undefined
        ? escapeRegex(route.value)
        : route.prefix !== undefined
          ? escapeRegex(route.prefix) + COOKIE_ANY
          : route.regex !== undefined
            ? `${COOKIE_ANY}(?:${route.regex})${COOKIE_ANY}`
            : undefined;
    if (value !== undefined)
      return { header: cookieHeader, condition: { regex: COOKIE.join(`${escapeRegex(route.cookie)}=${value}`) } };
  }
  throw new TrafficRefused(
    `a route needs a header or cookie and a value, prefix or regex (got ${JSON.stringify(route)})`,
  );
}

/** The route a header condition stands for, or undefined when kanari would not have written it. */
export function routeOf(header: string, condition: Condition, cookieHeader: string): HeaderRoute | undefined {
  if ('exact' in condition) return { header, value: condition.exact };
  if ('prefix' in condition) return { header, prefix: condition.prefix };
  const re = condition.regex;
  if (header.toLowerCase() === cookieHeader.toLowerCase()) {
    const inner = unwrap(re, COOKIE);
    const eq = inner?.indexOf('=') ?? -1;
    const cookie = eq > 0 ? unescapeRegex(inner!.slice(0, eq)) : undefined;
    if (cookie !== undefined) {
      const value = inner!.slice(eq + 1);
      const regex = unwrap(value, [`${COOKIE_ANY}(?:`, `)${COOKIE_ANY}`]);
      if (regex !== undefined) return { cookie, regex };
      const prefix = value.endsWith(COOKIE_ANY) ? unescapeRegex(value.slice(0, -COOKIE_ANY.length)) : undefined;
      if (prefix !== undefined) return { cookie, prefix };
      const exact = unescapeRegex(value);
      if (exact !== undefined) return { cookie, value: exact };
    }
  }
  const regex = unwrap(re, SEARCH);
  if (regex !== undefined) return { header, regex };
  const prefix = re.startsWith('^') && re.endsWith('.*') ? unescapeRegex(re.slice(1, -2)) : undefined;
  return prefix === undefined ? undefined : { header, prefix };
}
