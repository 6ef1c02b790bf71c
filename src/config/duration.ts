import { z } from 'zod';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

/** Parses `500ms`, `2s`, `1m30s`, `1.5h` into milliseconds; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) total += Number(amount) * UNIT_MS[unit!]!;
  return total;
}

/** Formats milliseconds the way a person writes them in a config file. */
export function formatDuration(ms: number): string {
  if (ms < 1000 || ms % 1000 !== 0) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60 || s % 60 !== 0) return `${s}s`;
  const m = s / 60;
  return m < 60 || m % 60 !== 0 ? `${m}m` : `${m / 60}h`;
}

/** A duration written as `250ms`, `2s`, `5m` or `1h30m`; parsed to milliseconds. */
export const duration = z
  .string({ error: 'must be a duration such as 500ms, 2s or 5m' })
  .transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: 'must be a duration such as 500ms, 2s or 5m', input: text });
      return z.NEVER;
    }
    return ms;
  });
