/**
 * How the tests start kanari's own processes (the CLI, the controller, the demo app). The
 * suite (scripts/test.mjs) sets KANARI_TEST_BUILT=1 when dist/ is built from the current
 * source: a process then starts from dist/ in about a quarter of the CPU that loading the
 * source through tsx takes (~0.25 s against ~0.9 s a `kanari` command), as a user's does.
 * A test file run alone runs the source, so an edit is never tested against an older build.
 */
import { fileURLToPath } from 'node:url';

export const BUILT = process.env.KANARI_TEST_BUILT === '1';

/** The file a child process runs for kanari's module `path` under src/ (`cli/main.ts`). */
export function ownModule(path: string): string {
  const url = BUILT ? `../../dist/${path.replace(/\.ts$/, '.js')}` : `../../src/${path}`;
  return fileURLToPath(new URL(url, import.meta.url));
}

/** Node's arguments before it: tsx, by its full path (a command may run in any directory), for the source. */
export const LOADER: string[] = BUILT ? [] : ['--import', import.meta.resolve('tsx')];
