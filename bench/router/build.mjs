// Builds kanari's router twice into the bench's temp dir — this tree, and the tree of a git
// ref — with the repo's own tsc and node_modules (no network, no npm install), so both run
// from fresh output of the same compiler and the old build really is the old code.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

/** The commit before the issue-12 hardening of the router: the build the hardening is measured against. */
export const DEFAULT_BASELINE = '33698ba';

const git = (repo, args) => spawnSync('git', ['-C', repo, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });

/** The short hash of `ref`, or an Error a person can act on (a shallow clone lacks old commits). */
export function resolveRef(repo, ref) {
  const out = git(repo, ['rev-parse', '--short', '--verify', '--quiet', `${ref}^{commit}`]);
  if (out.status !== 0) {
    return new Error(
      `--baseline ${ref}: no such commit in ${repo} (a shallow clone? try git fetch --unshallow, or --baseline none)`,
    );
  }
  return out.stdout.trim();
}

/** Compiles `root`'s src into `out`/dist beside a package.json and a node_modules link; returns the dist dir. */
function compile(repo, root, out, label) {
  mkdirSync(out, { recursive: true });
  if (!existsSync(join(out, 'package.json'))) copyFileSync(join(root, 'package.json'), join(out, 'package.json'));
  if (!existsSync(join(out, 'node_modules'))) symlinkSync(join(repo, 'node_modules'), join(out, 'node_modules'), 'dir');
  const dist = join(out, 'dist');
  const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
  const built = spawnSync(
    process.execPath,
    [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', dist, '--sourceMap', 'false'],
    { encoding: 'utf8' },
  );
  // An old tree may not type-check under today's compiler; tsc still emits it, which is all the bench needs.
  if (!existsSync(join(dist, 'router', 'run.js')))
    throw new Error(`building ${label} failed:\n${built.stdout}${built.stderr}`);
  if (built.status !== 0)
    console.error(
      `warning: tsc reported errors building ${label} (output kept):\n${built.stdout.split('\n').slice(0, 5).join('\n')}`,
    );
  return dist;
}

/** This working tree, uncommitted changes included. */
export function buildThisTree(repo, dir) {
  return compile(repo, repo, join(dir, 'build-this'), 'this tree');
}

/** The tree at `ref` (its src, tsconfigs and package.json), extracted with git archive. */
export function buildRef(repo, ref, dir) {
  const out = join(dir, `build-${ref.replace(/[^\w.-]/g, '_')}`);
  mkdirSync(out, { recursive: true });
  const archive = git(repo, [
    'archive',
    '--format=tar',
    '-o',
    join(out, 'tree.tar'),
    ref,
    'src',
    'tsconfig.json',
    'tsconfig.build.json',
    'package.json',
  ]);
  if (archive.status !== 0) throw new Error(`git archive ${ref} failed: ${archive.stderr}`);
  const tar = spawnSync('tar', ['-x', '-f', join(out, 'tree.tar'), '-C', out], { encoding: 'utf8' });
  if (tar.status !== 0) throw new Error(`unpacking ${ref} failed: ${tar.stderr}`);
  return compile(repo, out, out, `kanari @${ref}`);
}
