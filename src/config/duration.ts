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

const MESSAGE = 'must be a duration such as 500ms, 2s or 5m';

/** A duration written as `250ms`, `2s`, `5m` or `1h30m`, parsed to milliseconds; at most `max`, else `tooLong`. */
function durationAtMost(max: number, tooLong: string) {
  return z.string({ error: MESSAGE }).transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: MESSAGE, input: text });
      return z.NEVER;
    }
    if (ms > max) {
      ctx.addIssue({ code: 'custom', message: tooLong, input: text });
      return z.NEVER;
    }
    return ms;
  });
}

/**
 * A duration the engine counts on its own clock (pauses, deadlines checked each round):
 * any length, as long as it still counts exactly in milliseconds (and survives JSON).
 */
export const duration = durationAtMost(Number.MAX_SAFE_INTEGER, 'is too long to count in milliseconds');

/** A duration something steps or divides by: 0 would loop forever. */
export const positiveDuration = duration.refine((ms) => ms > 0, 'must be longer than 0');

/** The longest delay a Node.js timer takes; a longer one fires at once (with a TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A duration that becomes a timer (setTimeout, a socket timeout, AbortSignal.timeout):
 * refused above 2^31−1 ms, which would make the timer fire at once.
 */
export const timerDuration = durationAtMost(
  MAX_TIMER_MS,
  'must be at most 596h31m23.647s, about 24.8 days: the longest a Node.js timer can wait',
);
