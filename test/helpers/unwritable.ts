/**
 * A directory that kanari, run as a child process, really cannot write. Tests often run
 * as root (CI containers, this sandbox), and root ignores file modes: so as root the
 * child runs as nobody (65534) and the directory is root's with mode 0755; as anyone
 * else the child runs as the same user and the directory is made 0555.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ownModule } from './own-module.js';

const NOBODY = 65534;
const MAIN = ownModule('cli/main.ts');

export interface Unprivileged {
  /** Spawn options that run a child as the user who is refused. */
  user: { uid?: number; gid?: number };
  /** A fresh directory that user may enter (and, as root, owns). */
  tempDir(prefix: string): string;
  /** Lets that user write `dir` and everything in it. */
  grant(dir: string): void;
  /** Takes writing `dir` away from that user; it can still read and enter it. */
  revoke(dir: string): void;
}

/** How to refuse a child the right to write, or why this machine cannot (root whose checkout nobody may read). */
export function unprivileged(): Unprivileged | string {
  const root = process.getuid?.() === 0;
  if (!root) {
    return {
      user: {},
      tempDir: (prefix) => mkdtempSync(join(tmpdir(), prefix)),
      grant: (dir) => chmodSync(dir, 0o700),
      revoke: (dir) => chmodSync(dir, 0o555),
    };
  }
  const user = { uid: NOBODY, gid: NOBODY };
  const probe = spawnSync(
    process.execPath,
    ['-e', `require('fs').accessSync(${JSON.stringify(MAIN)}, require('fs').constants.R_OK)`],
    { ...user, encoding: 'utf8' },
  );
  if (probe.status !== 0)
    return `running as root, and user ${NOBODY} cannot read ${MAIN}: ${probe.error?.message ?? probe.stderr.split('\n').find((l) => l.includes('Error')) ?? `exit ${probe.status}`}`;
  return {
    user,
    tempDir(prefix) {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      chmodSync(dir, 0o755);
      return dir;
    },
    grant: (dir) => chownTree(dir, NOBODY),
    revoke(dir) {
      chownSync(dir, 0, 0);
      chmodSync(dir, 0o755);
    },
  };
}

function chownTree(path: string, id: number): void {
  chownSync(path, id, id);
  if (lstatSync(path).isDirectory()) for (const entry of readdirSync(path)) chownTree(join(path, entry), id);
}
