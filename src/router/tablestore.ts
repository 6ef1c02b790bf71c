import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../config/errors.js';
import { parseText } from '../config/load.js';
import { routingTable, type RoutingTable } from '../config/schemas/table.js';

export interface StoredTable {
  revision: number;
  table: RoutingTable;
}

const storedTable = z.strictObject({ revision: z.number().int().min(1), table: routingTable });

/** The last table the router was given, or undefined when it has never been given one. */
export function readStoredTable(path: string): StoredTable | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return parseText(text, path, storedTable);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // Refuse to guess: serving a default table could move every user off a half-done rollout.
    throw new ConfigError(err.issues.map((i) => ({ ...i, message: `${i.message} — the saved routing table is damaged; fix or delete ${path} to start from the config's table` })));
  }
}

/** Writes the table atomically: a crash leaves the old file or the new one, never half of either. */
export function writeStoredTable(path: string, stored: StoredTable): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(stored, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
