import { ConfigError } from '../config/errors.js';

/** Exit codes scripts can rely on. */
export const EXIT = {
  ok: 0,
  /** The command ran and found a problem (a failed check, a refused request). */
  failed: 1,
  /** Bad input: usage, a config file, a flag value. Nothing was changed. */
  usage: 2,
  /** A bug in kanari. */
  internal: 70,
} as const;

/** Thrown for a wrong command line; printed without a stack, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Prints an error the way a person can act on it, and returns the exit code it deserves. */
export function reportError(err: unknown): number {
  if (err instanceof ConfigError) {
    console.error(err.message);
    return EXIT.usage;
  }
  if (err instanceof UsageError) {
    console.error(`kanari: ${err.message}\nRun \`kanari help\` for the commands.`);
    return EXIT.usage;
  }
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  return EXIT.internal;
}
