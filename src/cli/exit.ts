import { ConfigError, formatIssue, printable } from '../config/errors.js';
import { KubeError } from '../kube/api.js';
import { KubeConfigError } from '../kube/kubeconfig-file.js';
import { ApiError, BadEnvironment, Unreachable } from '../server/client.js';
import { StartupError } from '../shared/system.js';

/** Exit codes scripts can rely on (the README lists them). */
export const EXIT = {
  ok: 0,
  /** The command ran and found a problem: a failed check, a refused request, a rollout that did not promote. */
  failed: 1,
  /** Bad input: usage, a config file, a flag value. Nothing was changed. */
  usage: 2,
  /** The controller could not be reached. Nothing was changed. */
  unreachable: 3,
  /** No such rollout (or analysis run). */
  notFound: 4,
  /** A bug in kanari. */
  internal: 70,
} as const;

/** Thrown for a wrong command line; printed without a stack, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A command that ran and cannot do what was asked, in words a person can act on; printed without a stack. */
export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
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
  if (err instanceof CommandError) {
    // Its words may quote what anyone could write into a cluster's objects: printed as text.
    console.error(`kanari: ${printable(err.message)}`);
    return err.exitCode;
  }
  if (err instanceof BadEnvironment) {
    console.error(`kanari: ${err.message}`);
    return EXIT.usage;
  }
  if (err instanceof Unreachable) {
    console.error(`kanari: ${err.message}`);
    return EXIT.unreachable;
  }
  if (err instanceof KubeConfigError) {
    console.error(`kanari: ${err.message}`);
    return EXIT.usage;
  }
  // The cluster: unreachable (status 0) like a controller; a refusal, with the API server's reason.
  if (err instanceof KubeError) {
    console.error(`kanari: ${err.message}`);
    return err.status === 0 ? EXIT.unreachable : err.status === 404 ? EXIT.notFound : EXIT.failed;
  }
  if (err instanceof StartupError) {
    console.error(`kanari: ${err.message}`);
    return EXIT.failed;
  }
  if (err instanceof ApiError) {
    console.error(err.issues?.length ? err.issues.map(formatIssue).join('\n') : `kanari: ${err.message}`);
    return err.status === 404
      ? EXIT.notFound
      : err.status === 400
        ? EXIT.usage
        : err.status >= 500
          ? EXIT.internal
          : EXIT.failed;
  }
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  return EXIT.internal;
}
