/**
 * The small translations both importers share: durations, names, and Argo's `expr`
 * conditions into kanari's condition language.
 */
import { compile, ExpressionError } from '../expression.js';
import { formatDuration, parseDuration } from '../duration.js';
import type { Field } from './source.js';

/**
 * A Go duration (`30s`, `1m30s`) or a number of seconds, as kanari writes it; undefined
 * (and reported) when kanari's durations cannot say it (`ns`, `µs`, a negative one).
 */
export function durationOf(field: Field, secondsIfNumber = true): string | undefined {
  if (!field.present) return undefined;
  if (typeof field.value === 'number' && secondsIfNumber) {
    if (Number.isFinite(field.value) && field.value >= 0) return formatDuration(Math.round(field.value * 1000));
  } else if (typeof field.value === 'string') {
    const ms = parseDuration(field.value);
    if (ms !== undefined) return formatDuration(ms);
    if (/^\d+$/.test(field.value) && secondsIfNumber) return formatDuration(Number(field.value) * 1000);
  }
  field.drop(`${JSON.stringify(field.value)} is not a duration kanari reads (ms, s, m, h); dropped`);
  return undefined;
}

/** A name kanari accepts for a template or webhook (a DNS label): lowercase, dashes, at most 63. */
export function labelName(text: string): string {
  const cut = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .slice(0, 63)
    .replace(/^-+|-+$/g, '');
  return cut === '' ? 'imported' : cut;
}

/** Names given out in one import, so two templates (or webhooks) never share one. */
export class UniqueNames {
  private readonly taken = new Set<string>();
  /** `text` as a DNS label, with `-2`, `-3`… when it is taken. */
  take(text: string): string {
    const base = labelName(text);
    let out = base;
    for (let i = 2; this.taken.has(out); i++) out = `${base.slice(0, 58)}-${i}`;
    this.taken.add(out);
    return out;
  }
}

/** A number as a condition writes it (no exponent surprises for ordinary thresholds). */
const literal = (n: number) => String(n);

const ALL_OR_ANY = /\b(all|any)\(\s*result\s*,\s*\{?\s*#\s*(<=|>=|<|>)\s*(-?\d+(?:\.\d+)?)\s*\}?\s*\)/g;

/**
 * Argo's `expr` conditions as kanari conditions, where they mean the same. Argo gives a
 * Prometheus vector as a list and kanari a single sample as a number, so `result[0]`
 * becomes `default(result[0], result)`, right for both; `all(result, {# < 1})` becomes
 * `max(result) < 1` (and `any` its mirror), since kanari's max and min take a number or a
 * list; asInt/asFloat drop out (values are numbers already). Anything else must compile in
 * kanari's language as written, reading only `result`; otherwise it is refused with why.
 */
export function argoCondition(source: string): { condition: string } | { refused: string } {
  const text = source
    .trim()
    .replace(ALL_OR_ANY, (_, fn: string, op: string, n: string) => {
      const below = op.startsWith('<');
      const pick = (fn === 'all') === below ? 'max' : 'min';
      return `${pick}(result) ${op} ${literal(Number(n))}`;
    })
    .replace(/\bresult\s*\[\s*0\s*\]/g, 'default(result[0], result)')
    .replace(/\bas(?:Int|Float)\(/g, '(');
  try {
    const names = compile(text).names.filter((n) => n !== 'result');
    if (names.length > 0) return { refused: `reads ${names.join(', ')}, which kanari's conditions do not know` };
    return { condition: text };
  } catch (err) {
    if (err instanceof ExpressionError)
      return { refused: `kanari's condition language cannot read it (${err.message})` };
    throw err;
  }
}

/** `{{args.name}}` (or Flagger's `{{ variables.name }}`) replaced from `values`; the names without a value. */
export function substitute(
  text: string,
  prefix: string,
  values: ReadonlyMap<string, string>,
): { text: string; missing: string[] } {
  const missing: string[] = [];
  const pattern = new RegExp(`\\{\\{\\s*${prefix.replace('.', '\\.')}([A-Za-z0-9_.-]+)\\s*\\}\\}`, 'g');
  const out = text.replace(pattern, (whole, name: string) => {
    const value = values.get(name);
    if (value === undefined) {
      missing.push(name);
      return whole;
    }
    return value;
  });
  return { text: out, missing: [...new Set(missing)] };
}
