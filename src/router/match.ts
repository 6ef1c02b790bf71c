import type { MatchRule, ValueMatch, Version } from '../config/schemas/table.js';
import { compileLinearRegex } from '../shared/regex.js';

type Test = (value: string) => boolean;

export interface CompiledRule {
  header?: { name: string; test: Test };
  cookie?: { name: string; test: Test };
  version: Version;
}

function compileTest(m: ValueMatch): Test {
  if (m.exact !== undefined) {
    const exact = m.exact;
    return (v) => v === exact;
  }
  if (m.prefix !== undefined) {
    const prefix = m.prefix;
    return (v) => v.startsWith(prefix);
  }
  const re = compileLinearRegex(m.regex!);
  return (v) => re.test(v);
}

export function compileRules(rules: readonly MatchRule[]): CompiledRule[] {
  return rules.map((rule) => ({
    ...(rule.header ? { header: { name: rule.header.name.toLowerCase(), test: compileTest(rule.header) } } : {}),
    ...(rule.cookie ? { cookie: { name: rule.cookie.name, test: compileTest(rule.cookie) } } : {}),
    version: rule.version,
  }));
}

/**
 * The version the first matching rule names; every condition of a rule must hold. `header`
 * gives a field's whole value (all its lines), as the request is forwarded.
 */
export function matchVersion(
  rules: readonly CompiledRule[],
  header: (name: string) => string | undefined,
): Version | undefined {
  for (const rule of rules) {
    if (rule.header) {
      const value = header(rule.header.name);
      if (value === undefined || !rule.header.test(value)) continue;
    }
    if (rule.cookie) {
      const value = cookieValue(header('cookie'), rule.cookie.name);
      if (value === undefined || !rule.cookie.test(value)) continue;
    }
    return rule.version;
  }
  return undefined;
}

/** One cookie's value from a Cookie header, without building a map of all of them. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  let from = 0;
  while (from < header.length) {
    const at = header.indexOf(name, from);
    if (at < 0) return undefined;
    const startsPair = at === 0 || header[at - 1] === ' ' || header[at - 1] === ';';
    if (startsPair && header[at + name.length] === '=') {
      const end = header.indexOf(';', at);
      return header.slice(at + name.length + 1, end < 0 ? undefined : end).trim();
    }
    from = at + name.length;
  }
  return undefined;
}
