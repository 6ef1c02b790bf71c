import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../config/errors.js';
import { parseText } from '../config/load.js';
import { routingTable, type RoutingTable } from '../config/schemas/table.js';
import { writePrivateFile } from '../shared/files.js';

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
    throw new ConfigError(
      err.issues.map((i) => ({
        ...i,
        message: `${i.message} — the saved routing table is damaged; fix or delete ${path} to start from the config's table`,
      })),
    );
  }
}

/** Writes the table atomically (a crash leaves the old file or the new one), readable by its owner only. */
export function writeStoredTable(path: string, stored: StoredTable): void {
  writePrivateFile(path, JSON.stringify(stored, null, 2) + '\n');
}
