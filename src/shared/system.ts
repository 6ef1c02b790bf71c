/**
 * What kanari's long-running commands (`kanari up`, `kanari router`) share about the
 * system refusing them: a port someone else holds, a directory they cannot write.
 */
import type { Server } from 'node:net';

/**
 * A log line that cannot be written (stdout is a file on a full disk) is lost rather
 * than fatal: Node would otherwise exit on the stream's unhandled error, and a router or
 * controller must not die of its own log, least of all while it rolls users back.
 */
export function survivePrintFailures(): void {
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
}

/** A process cannot start for a reason a person can fix; the CLI prints it without a stack and exits 2. */
export class StartupError extends Error {
  override name = 'StartupError';
}

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EIO: 'input/output error',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a directory',
  EADDRINUSE: 'the address is already in use by another process',
  EADDRNOTAVAIL: 'no such address on this machine',
};

/**
 * An error from the system in a few words, with its code (`permission denied (EACCES)`),
 * and without the path or the stack Node puts in its message: callers say what they did.
 */
export function describeSystemError(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code !== 'string') return message;
  if (REASONS[code]) return `${REASONS[code]} (${code})`;
  // Node says `EBUSY: resource busy or locked, open '/x'`; SQLite says `disk I/O error`.
  return `${message.replace(`${code}: `, '').replace(/, \w+ '.*'$/, '')} (${code})`;
}

/** Listens, or fails with a StartupError naming the address and the setting it came from. */
export function listenOrExplain(server: Server, port: number, host: string, setting: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => reject(listenError(err, port, host, setting));
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
}

/** Why listening on `host:port` (from `setting`) failed, for a person. */
export function listenError(err: unknown, port: number, host: string, setting: string): StartupError {
  return new StartupError(
    `cannot listen on ${host.includes(':') ? `[${host}]` : host}:${port} (${setting}): ${describeSystemError(err)}`,
  );
}
