import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The oracles live in ../shared beside the checkout (transcribed from other projects'
 * test suites); they are read at test time, never copied into this repo.
 */
export const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));

export function readShared(relative: string): string {
  const path = SHARED + relative;
  if (!existsSync(path)) throw new Error(`oracle ${path} is missing: the tests expect ../shared beside the checkout`);
  return readFileSync(path, 'utf8');
}

/** JSON with Kayenta's "NaN" strings turned back into numbers. */
export function readSharedJson<T>(relative: string): T {
  return JSON.parse(readShared(relative), (_key, value: unknown) => (value === 'NaN' ? NaN : value)) as T;
}
