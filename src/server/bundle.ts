/**
 * A resolved bundle: the files a Rollout file's documents reference (a Kayenta canary
 * config), sent with it so a controller on another host has them without reading its own
 * disk. Paths are relative to `root`, a directory on the client that holds them all; they
 * never climb out of it, and the bundle's size is bounded by the API's body limit.
 */
import { dirname, isAbsolute, posix, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../config/errors.js';
import { loadDocuments, type ReadReferenced } from '../config/kinds.js';
import { loadFileText } from '../config/load.js';

export const MAX_BUNDLE_FILES = 64;

const bundlePath = z
  .string()
  .min(1)
  .max(1024)
  .refine(
    (p) =>
      !p.startsWith('/') &&
      !p.includes('\\') &&
      !p.includes('\0') &&
      p.split('/').every((part) => part !== '' && part !== '.' && part !== '..'),
    'must be a relative path inside the bundle (no "..", ".", empty or absolute parts)',
  );

export const bundleFiles = z.strictObject({
  /** Where the files were on the client, for messages: errors name the user's own paths. */
  root: z
    .string()
    .min(1)
    .max(4096)
    .refine((r) => r.startsWith('/'), 'must be an absolute path'),
  files: z
    .record(bundlePath, z.string())
    .refine((f) => Object.keys(f).length <= MAX_BUNDLE_FILES, `holds at most ${MAX_BUNDLE_FILES} files`),
});

export type Bundle = z.output<typeof bundleFiles>;

/** How the controller reads a file a document references: from the bundle only. */
export function bundleReader(bundle: Bundle): ReadReferenced {
  return (path) => {
    const rel = posix.relative(bundle.root, path);
    const inside = rel !== '..' && !rel.startsWith('../') && !posix.isAbsolute(rel);
    const text = inside && Object.hasOwn(bundle.files, rel) ? bundle.files[rel] : undefined;
    if (text === undefined)
      throw new ConfigError([
        { file: path, line: 1, col: 1, path: '', message: 'is not in the bundle kanari apply sent' },
      ]);
    return text;
  };
}

/**
 * Loads `file` as `kanari lint` does (a ConfigError with its line, naming the file as
 * given, when it is not valid),
 * and gathers the files its documents read, relative to the deepest directory holding
 * them all and the file itself.
 */
export function makeBundle(file: string): { text: string; bundle: Bundle } {
  const text = loadFileText(file);
  const read = new Map<string, string>();
  loadDocuments(file, text, undefined, (path) => {
    const content = loadFileText(path);
    read.set(path, content);
    return content;
  });
  const root = [...read.keys()].reduce(commonDir, dirname(resolve(file)));
  const files = Object.fromEntries(
    [...read].map(([path, content]) => [relative(root, path).split(sep).join('/'), content]),
  );
  return { text, bundle: { root: root.split(sep).join('/'), files } };
}

function commonDir(dir: string, path: string): string {
  let d = dir;
  while (!isAbsolute(relative(d, path)) && relative(d, path).startsWith('..')) d = dirname(d);
  return d;
}
