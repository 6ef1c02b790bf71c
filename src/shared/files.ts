/**
 * Files kanari keeps state in hold secrets (tokens, the commands and environment of every
 * version, logs of what they print), so they are readable by their owner only: files
 * 0600 in directories 0700, whatever the umask, and state an older kanari left with
 * looser modes is tightened.
 */
import {
  chmodSync,
  closeSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';

/** Creates `dir` and its missing parents as 0700; one that exists is left as it is (it may be someone's own). */
export function newPrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Creates `dir` and its missing parents as 0700, or takes group and other bits off one that exists (kanari's own). */
export function privateDir(dir: string): void {
  newPrivateDir(dir);
  try {
    tighten(dir);
  } catch {
    /* not ours to change (tightenTree reports those) */
  }
}

/** Takes group and other bits off each of `paths` that exists (files an older kanari made). */
export function privateFiles(...paths: string[]): void {
  for (const path of paths) {
    try {
      tighten(path);
    } catch {
      /* absent, or not ours to change (tightenTree reports those) */
    }
  }
}

/** Opens `path` for appending, created 0600 (a log). */
export function openPrivateLog(path: string): number {
  const fd = openSync(path, 'a', 0o600);
  privateFiles(path);
  return fd;
}

/** Writes the file atomically and durably, 0600: a crash leaves the old file or the new one, never half of either. */
export function writePrivateFile(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  // Made anew ('wx' follows no link): a leftover of a run killed with this pid would keep its mode, a link its target.
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/**
 * Takes group and other bits off `path` and, for a directory, everything under it
 * (symbolic links are left alone). Returns what could not be changed, with why.
 */
export function tightenTree(path: string): string[] {
  const failed: string[] = [];
  const walk = (p: string) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    try {
      tighten(p, st.mode);
    } catch (err) {
      failed.push(`${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (st.isDirectory()) for (const entry of readdirSync(p)) walk(join(p, entry));
  };
  walk(path);
  return failed;
}

/** Fails with the system's reason when nothing can be created in `dir`. */
export function checkWritable(dir: string): void {
  const probe = join(dir, `.kanari-write-check.${process.pid}`);
  closeSync(openSync(probe, 'w', 0o600));
  rmSync(probe);
}

function tighten(path: string, mode = lstatSync(path).mode): void {
  if ((mode & 0o077) !== 0) chmodSync(path, mode & 0o7700);
}
