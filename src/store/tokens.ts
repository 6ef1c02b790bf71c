/**
 * The controller API's bearer tokens, a part of the SQLite store: one row per token, with
 * its SHA-256 hash and never the token itself. Revoked rows are kept, so the names the
 * event log records as actors still mean something.
 */
import type Database from 'better-sqlite3';

/** Older state directories get the table when the store opens them (kanari up before tokens had roles). */
export const TOKENS_SCHEMA = `
create table if not exists api_tokens (
  id text primary key,
  name text not null,
  role text not null,
  hash blob not null unique,
  created_at integer not null,
  created_by text,
  expires_at integer,
  last_used_at integer,
  revoked_at integer,
  revoked_by text
);
create unique index if not exists api_tokens_active_name on api_tokens (name) where revoked_at is null;
`;

/** A token as kept: everything but the token itself. */
export interface TokenRow {
  id: string;
  name: string;
  role: string;
  /** SHA-256 of the token, 32 bytes. */
  hash: Buffer;
  createdAt: number;
  createdBy?: string;
  expiresAt?: number;
  lastUsedAt?: number;
  revokedAt?: number;
  revokedBy?: string;
}

interface SqlRow {
  id: string;
  name: string;
  role: string;
  hash: Buffer;
  created_at: number;
  created_by: string | null;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
  revoked_by: string | null;
}

const COLUMNS = 'id, name, role, hash, created_at, created_by, expires_at, last_used_at, revoked_at, revoked_by';

function fromSql(r: SqlRow): TokenRow {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    hash: r.hash,
    createdAt: r.created_at,
    ...(r.created_by === null ? {} : { createdBy: r.created_by }),
    ...(r.expires_at === null ? {} : { expiresAt: r.expires_at }),
    ...(r.last_used_at === null ? {} : { lastUsedAt: r.last_used_at }),
    ...(r.revoked_at === null ? {} : { revokedAt: r.revoked_at }),
    ...(r.revoked_by === null ? {} : { revokedBy: r.revoked_by }),
  };
}

/** A name already held by a token that is not revoked. */
export class DuplicateTokenName extends Error {}

/**
 * Where tokens are kept: this SQLite table, or a Kubernetes Secret (`kubernetes-tokens.ts`).
 * Reads answer at once from what is kept here; writes may go over the network, and a kept
 * copy may be brought up to date by `refresh` before a read that must be current.
 */
export interface TokenRows {
  /** Throws `DuplicateTokenName` when a token not revoked has the name already. */
  insert(t: TokenRow): void | Promise<void>;
  byId(id: string): TokenRow | undefined;
  byHash(hash: Buffer): TokenRow | undefined;
  byName(name: string): TokenRow[];
  list(): TokenRow[];
  revoke(id: string, at: number, by?: string): boolean | Promise<boolean>;
  touch(id: string, at: number): void | Promise<void>;
  /** Reads again what another replica may have written; `id` is a token being looked for. */
  refresh?(id?: string): Promise<void>;
}

export class TokenTable implements TokenRows {
  constructor(private readonly db: Database.Database) {
    db.exec(TOKENS_SCHEMA);
  }

  insert(t: TokenRow): void {
    try {
      this.db
        .prepare(
          `insert into api_tokens (${COLUMNS}) values (@id, @name, @role, @hash, @createdAt, @createdBy, @expiresAt, null, null, null)`,
        )
        .run({ createdBy: null, expiresAt: null, ...t });
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE' && /name/.test((err as Error).message))
        throw new DuplicateTokenName(`a token named ${t.name} exists already`);
      throw err;
    }
  }

  byId(id: string): TokenRow | undefined {
    const row = this.db.prepare(`select ${COLUMNS} from api_tokens where id = ?`).get(id) as SqlRow | undefined;
    return row && fromSql(row);
  }

  byHash(hash: Buffer): TokenRow | undefined {
    const row = this.db.prepare(`select ${COLUMNS} from api_tokens where hash = ?`).get(hash) as SqlRow | undefined;
    return row && fromSql(row);
  }

  /** Every token of that name, the one not revoked (if any) first, then the newest. */
  byName(name: string): TokenRow[] {
    const rows = this.db
      .prepare(
        `select ${COLUMNS} from api_tokens where name = ? order by revoked_at is not null, created_at desc, rowid desc`,
      )
      .all(name) as SqlRow[];
    return rows.map(fromSql);
  }

  list(): TokenRow[] {
    const rows = this.db.prepare(`select ${COLUMNS} from api_tokens order by created_at, rowid`).all() as SqlRow[];
    return rows.map(fromSql);
  }

  /** Revokes a token not revoked yet; false when there was none. */
  revoke(id: string, at: number, by?: string): boolean {
    const r = this.db
      .prepare('update api_tokens set revoked_at = ?, revoked_by = ? where id = ? and revoked_at is null')
      .run(at, by ?? null, id);
    return r.changes === 1;
  }

  touch(id: string, at: number): void {
    this.db.prepare('update api_tokens set last_used_at = ? where id = ?').run(at, id);
  }
}
