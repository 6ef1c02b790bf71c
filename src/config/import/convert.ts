/**
 * The small translations both importers share: durations, names, and Argo's `expr`
 * conditions into kanari's condition language.
 */
import { compile, ExpressionError } from '../expression.js';
import { formatDuration } from '../duration.js';
import type { Field } from './source.js';

const GO_UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const GO_DURATION = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;

/** A Go duration (`1h30m`, `500us`) in whole milliseconds, rounded up so a short wait never becomes none. */
function goDuration(text: string): number | undefined {
  if (!GO_DURATION.test(text)) return undefined;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(n) * GO_UNIT_MS[unit!]!;
  return Math.ceil(ms);
}

/**
 * A Go duration or a number of seconds (Argo's and Flagger's forms), as kanari writes it;
 * undefined, and reported, when it is neither.
 */
export function durationOf(field: Field, secondsIfNumber = true): string | undefined {
  if (!field.present) return undefined;
  let ms: number | undefined;
  if (typeof field.value === 'number' && secondsIfNumber && Number.isFinite(field.value) && field.value >= 0)
    ms = Math.ceil(field.value * 1000);
  else if (typeof field.value === 'string')
    ms = /^\d+$/.test(field.value) && secondsIfNumber ? Number(field.value) * 1000 : goDuration(field.value);
  if (ms !== undefined && Number.isSafeInteger(ms)) return formatDuration(ms);
  field.drop(`${JSON.stringify(field.value)} is not a duration; dropped`);
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
