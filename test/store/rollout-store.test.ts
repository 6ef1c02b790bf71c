/** The store conformance suite against each store: in memory, and SQLite (a file, as `kanari up` uses). */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryStore } from '../../src/store/memory.js';
import { sqliteParts, Store } from '../../src/store/sqlite.js';
import { rolloutStoreConformance } from '../conformance/rollout-store.js';

rolloutStoreConformance('memory', () => ({ store: memoryStore(), close: () => {} }));

rolloutStoreConformance('sqlite', () => {
  const db = new Store(join(mkdtempSync(join(tmpdir(), 'kanari-store-')), 'kanari.db'));
  return { store: sqliteParts(db), close: () => db.close() };
});
