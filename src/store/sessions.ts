/**
 * Browser sessions of the controller API, a part of the SQLite store: one row per session,
 * keyed by the SHA-256 hash of its id, never the id itself, so a copy of the database signs
 * nobody in. Kept on disk so a controller's restart does not sign people out.
 */
import type Database from 'better-sqlite3';

/** Absolute, not idle: a stolen cookie is worth half a day at most, and nobody is signed out mid-rollout by a quiet hour. */
export const SESSION_LIFETIME_MS = 12 * 3_600_000;

export const SESSIONS_SCHEMA = `
create table if not exists browser_sessions (
  hash blob primary key,
  actor text not null,
  role text not null,
  via text not null,
  token_id text,
  csrf text not null,
  created_at integer not null,
  expires_at integer not null
);
create index if not exists browser_sessions_created on browser_sessions (created_at);
create index if not exists browser_sessions_actor on browser_sessions (actor, created_at);
`;

export interface SessionRow {
  /** SHA-256 of the session id, 32 bytes. */
  hash: Buffer;
  actor: string;
  role: string;
  /** How it was signed in: token, oidc or link. */
  via: string;
  /** The token it was signed in with: the session ends with it. */
  tokenId?: string;
  /** Not a secret that signs in: what a page of this origin sends back to prove it is one. */
  csrf: string;
  createdAt: number;
  expiresAt: number;
}

interface SqlRow {
  hash: Buffer;
  actor: string;
  role: string;
  via: string;
  token_id: string | null;
  csrf: string;
  created_at: number;
  expires_at: number;
}

const COLUMNS = 'hash, actor, role, via, token_id, csrf, created_at, expires_at';

/**
 * Where sessions are kept: this SQLite table, or a Kubernetes Secret (`kubernetes-sessions.ts`).
 * Reads answer at once from what is kept here; writes may go over the network, and a kept
 * copy is brought up to date by `refresh` before a read that must be current.
 */
export interface SessionRows {
  /** Adds a session and drops any expired, the actor's oldest beyond `perActor`, and the oldest beyond `cap`. */
  insert(s: SessionRow, cap: number, perActor?: number): void | Promise<void>;
  byHash(hash: Buffer): SessionRow | undefined;
  remove(hash: Buffer): boolean | Promise<boolean>;
  /** Reads again what another replica may have written; `hash` is a session being looked for. */
  refresh?(hash?: Buffer): Promise<void>;
}

export class SessionTable implements SessionRows {
  constructor(private readonly db: Database.Database) {
    db.exec(SESSIONS_SCHEMA);
  }

  /** Adds a session and drops any expired, the actor's oldest beyond `perActor`, and the oldest beyond `cap`, in one transaction. */
  insert(s: SessionRow, cap: number, perActor = cap): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `insert into browser_sessions (${COLUMNS}) values (@hash, @actor, @role, @via, @tokenId, @csrf, @createdAt, @expiresAt)`,
        )
        .run({ tokenId: null, ...s });
      this.db.prepare('delete from browser_sessions where expires_at <= ?').run(s.createdAt);
      this.db
        .prepare(
          'delete from browser_sessions where actor = @actor and rowid not in (select rowid from browser_sessions where actor = @actor order by created_at desc, rowid desc limit @perActor)',
        )
        .run({ actor: s.actor, perActor });
      this.db
        .prepare(
          'delete from browser_sessions where rowid not in (select rowid from browser_sessions order by created_at desc, rowid desc limit ?)',
        )
        .run(cap);
    })();
  }

  byHash(hash: Buffer): SessionRow | undefined {
    const r = this.db.prepare(`select ${COLUMNS} from browser_sessions where hash = ?`).get(hash) as SqlRow | undefined;
    if (!r) return undefined;
    return {
      hash: r.hash,
      actor: r.actor,
      role: r.role,
      via: r.via,
      ...(r.token_id === null ? {} : { tokenId: r.token_id }),
      csrf: r.csrf,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
    };
  }

  remove(hash: Buffer): boolean {
    return this.db.prepare('delete from browser_sessions where hash = ?').run(hash).changes === 1;
  }

  count(): number {
    return (this.db.prepare('select count(*) as n from browser_sessions').get() as { n: number }).n;
  }
}
