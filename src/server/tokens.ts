/**
 * Who may call the controller API: bearer tokens, each with a name and a role, made
 * random (256 bits), shown once and kept only as a SHA-256 hash. A slow password hash
 * would buy nothing here: it slows the guessing of secrets people choose, and nobody can
 * guess among 2^256 random values however fast each guess is; it would only make every
 * request cost milliseconds of CPU.
 */
import crypto from 'node:crypto';
import { parseDuration } from '../config/duration.js';
import { HttpError } from '../shared/http.js';
import { EndWatchers } from './end-watchers.js';
import { sha256 } from './secrets.js';
import { DuplicateTokenName, type TokenRow, type TokenRows, type TokenTable } from '../store/tokens.js';

/** Each role may do what the roles before it may. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function roleAllows(has: Role, needs: Role): boolean {
  return ROLES.indexOf(has) >= ROLES.indexOf(needs);
}

/** Who a request comes from: what the event log records as the actor. */
export interface Principal {
  name: string;
  role: Role;
  /** The token it came with, or signed in with; none for a session of single sign-on or a sign-in link. */
  tokenId?: string;
  /** When it came with a session cookie rather than a bearer token. */
  session?: SessionRef;
}

export type SignInVia = 'token' | 'oidc' | 'link';

/** What a request made with a session cookie (sessions.ts) carries besides who it is. */
export interface SessionRef {
  /** Hex of the hash the store keys it by. */
  key: string;
  csrf: string;
  expiresAt: number;
  via: SignInVia;
}

/** A token as the API shows it: everything but the secret, which nobody keeps, and its hash. */
export type TokenInfo = Omit<TokenRow, 'hash' | 'role'> & { role: Role };

/** The name of the admin token `kanari up` keeps in `<state>/api-token`. */
export const LOCAL_TOKEN_NAME = 'local';
/** A token nobody gave a lifetime lives this long: long enough for a CI pipeline's quarter, short enough that a forgotten leak ends. */
export const DEFAULT_LIFETIME = '90d';

/** `kanari_<id>_<secret>`: the id (not secret) finds the row; the prefix lets secret scanners spot a leaked one. */
const TOKEN_FORMAT = /^kanari_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;
/**
 * What an Authorization header may carry at all (RFC 6750's b64token); anything else is not
 * looked up. The scheme is case-insensitive (RFC 9110 §11.1): some clients send `bearer`.
 */
const BEARER = /^[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9._~+/=-]{16,256})$/;
/** Last use is written at most this often per token, so reading is not a write per request. */
const LAST_USED_GRAIN_MS = 60_000;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,62}$/;
const TOKEN_ID = /^[0-9a-f]{16}$/;
const DAY_MS = 86_400_000;
const MAX_LIFETIME_MS = 3650 * DAY_MS;

/** Where a caller finds a token, said when it sent none that works: `kanari up`'s, unless the listener says its own. */
const LOCAL_TOKEN_HINT = 'kanari up writes it to <state>/api-token';

export class Tokens {
  /** What to call when a token is revoked, by its id: the connections it holds open. */
  private readonly onRevoke: EndWatchers;

  constructor(
    private readonly table: TokenRows,
    private readonly now: () => number = Date.now,
    private readonly hint = LOCAL_TOKEN_HINT,
  ) {
    this.onRevoke = new EndWatchers(now);
  }

  /** Makes a token: the secret is in the answer and nowhere else. */
  async create(o: TokenRequest): Promise<{ token: string; info: TokenInfo }> {
    const { token, row } = mint(o, this.now());
    try {
      await this.table.insert(row);
    } catch (err) {
      if (err instanceof DuplicateTokenName)
        throw new HttpError(409, `a token named ${o.name} exists already: revoke it first, or pick another name`);
      throw err;
    }
    return { token, info: infoOf(row) };
  }

  async list(): Promise<TokenInfo[]> {
    await this.table.refresh?.();
    return this.table.list().map(infoOf);
  }

  /** Revokes the token with this id, or the one of this name that is not revoked; one revoked already is said as it is. */
  async revoke(ref: string, by?: string): Promise<TokenInfo> {
    await this.table.refresh?.();
    const byId = this.table.byId(ref);
    const named = byId ? [] : this.table.byName(ref);
    const active = named.filter((r) => r.revokedAt === undefined);
    // Only a hand-edited Secret has two: revoking one would leave the other working under the name said revoked.
    if (active.length > 1)
      throw new HttpError(
        409,
        `${active.length} tokens are named ${ref} (${active.map((r) => r.id).join(', ')}): revoke each by its id`,
      );
    const row = byId ?? named[0];
    if (!row)
      throw new HttpError(
        404,
        `no token named or numbered ${JSON.stringify(ref.slice(0, 80))} (see kanari token list)`,
      );
    await this.table.revoke(row.id, this.now(), by);
    this.onRevoke.end(row.id);
    return infoOf(this.table.byId(row.id)!);
  }

  /**
   * Calls `end` once the token `p` came with is revoked or expires: a connection that
   * outlives its request (the event stream) must not outlive its token. Returns what
   * stops watching, for when the connection ends first.
   */
  whileValid(p: Principal & { tokenId: string }, end: () => void): () => void {
    return this.onRevoke.watch(p.tokenId, this.table.byId(p.tokenId)?.expiresAt, end);
  }

  /** `authenticate` on rows read again first when they are kept elsewhere (another replica may have revoked the token). */
  async authenticateCurrent(authorization: string | undefined): Promise<Principal> {
    const token = BEARER.exec(authorization ?? '')?.[1];
    if (token !== undefined) await this.table.refresh?.(TOKEN_FORMAT.exec(token)?.[1]);
    return this.authenticate(authorization);
  }

  /** The principal an `Authorization` header names; a 401 saying why for anything else. */
  authenticate(authorization: string | undefined): Principal {
    const token = BEARER.exec(authorization ?? '')?.[1];
    const row = token === undefined ? undefined : this.find(token);
    if (!row) throw unauthorized(`missing or wrong bearer token (Authorization: Bearer <token>; ${this.hint})`);
    const now = this.now();
    // Only the holder of the token itself learns these: it matched its hash.
    if (row.revokedAt !== undefined)
      throw unauthorized(`the bearer token ${row.name} (${row.id}) was revoked at ${iso(row.revokedAt)}`);
    if (row.expiresAt !== undefined && row.expiresAt <= now)
      throw unauthorized(`the bearer token ${row.name} (${row.id}) expired at ${iso(row.expiresAt)}`);
    if (row.lastUsedAt === undefined || now - row.lastUsedAt >= LAST_USED_GRAIN_MS) {
      // A store that takes no writes (a full disk, an API server away) must not lock everyone out.
      try {
        Promise.resolve(this.table.touch(row.id, now)).catch(() => {});
      } catch {
        // The SQLite table throws at once.
      }
    }
    return { name: row.name, role: row.role as Role, tokenId: row.id };
  }

  private find(token: string): TokenRow | undefined {
    return findRow(this.table, token);
  }
}

/**
 * The admin token `kanari up` keeps in its state directory: `current` (the file's) when it
 * still works, taken in as the first admin token when the store does not know it (a
 * controller from before tokens had roles), else a new one to write to the file.
 */
export function localToken(table: TokenTable, current?: string, now = Date.now()): string {
  const known = current === undefined ? undefined : findRow(table, current);
  if (known && known.revokedAt === undefined && (known.expiresAt ?? Infinity) > now && known.role === 'admin')
    return current!;
  const retire = () => {
    for (const row of table.byName(LOCAL_TOKEN_NAME)) table.revoke(row.id, now, 'kanari up');
  };
  // A token of kanari's own format is found by the id it carries, so it is taken in under that id or not at all.
  const ownId = current === undefined ? undefined : TOKEN_FORMAT.exec(current)?.[1];
  const adoptable = ownId === undefined || table.byId(ownId) === undefined;
  retire();
  if (current !== undefined && !known && adoptable && BEARER.test(`Bearer ${current}`)) {
    const id = ownId ?? crypto.randomBytes(8).toString('hex');
    table.insert({
      id,
      name: LOCAL_TOKEN_NAME,
      role: 'admin',
      hash: sha256(current),
      createdAt: now,
      createdBy: 'kanari up',
    });
    return current;
  }
  const made = mint({ name: LOCAL_TOKEN_NAME, role: 'admin', by: 'kanari up' }, now);
  table.insert(made.row);
  return made.token;
}

export interface TokenRequest {
  name: string;
  role: Role;
  lifetimeMs?: number;
  by?: string;
}

/** A new token and the row that keeps it (its hash); the name checked first. */
function mint(o: TokenRequest, at: number): { token: string; row: TokenRow } {
  if (!NAME.test(o.name))
    throw new HttpError(
      400,
      `a token's name must be letters, digits, dots, dashes, underscores or @ (at most 63), starting with a letter or digit (got ${JSON.stringify(o.name.slice(0, 80))})`,
    );
  // `kanari token revoke REF` takes an id before a name: a name that looks like one could not be named.
  if (TOKEN_ID.test(o.name))
    throw new HttpError(400, `a token's name must not look like a token's id (16 hex digits): ${o.name}`);
  const id = crypto.randomBytes(8).toString('hex');
  const token = `kanari_${id}_${crypto.randomBytes(32).toString('base64url')}`;
  const row: TokenRow = {
    id,
    name: o.name,
    role: o.role,
    hash: sha256(token),
    createdAt: at,
    ...(o.by === undefined ? {} : { createdBy: o.by }),
    ...(o.lifetimeMs === undefined ? {} : { expiresAt: at + o.lifetimeMs }),
  };
  return { token, row };
}

/** The row whose hash is the token's, compared in constant time; by its id when it has one, else by its hash. */
function findRow(table: TokenRows, token: string): TokenRow | undefined {
  const hash = sha256(token);
  const id = TOKEN_FORMAT.exec(token)?.[1];
  const row = id === undefined ? table.byHash(hash) : table.byId(id);
  return row && row.hash.length === hash.length && crypto.timingSafeEqual(row.hash, hash) ? row : undefined;
}

/**
 * A token's lifetime in ms from `30d`, `12h`, `90m` (or anything `parseDuration` reads), or
 * undefined for `never`; at least a minute, at most ten years.
 */
export function parseLifetime(text: string): number | undefined {
  if (text === 'never') return undefined;
  const days = /^(\d{1,5})d$/.exec(text)?.[1];
  const ms = days === undefined ? parseDuration(text) : Number(days) * DAY_MS;
  if (ms === undefined || ms < 60_000 || ms > MAX_LIFETIME_MS)
    throw new HttpError(
      400,
      `expires must be a duration from 1m to 3650d such as 12h or 30d, or never (got ${JSON.stringify(text.slice(0, 80))})`,
    );
  return ms;
}

function infoOf(row: TokenRow): TokenInfo {
  const { hash: _hash, role, ...rest } = row;
  return { ...rest, role: role as Role };
}

function unauthorized(detail: string): HttpError {
  return new HttpError(401, detail, {}, { 'www-authenticate': 'Bearer' });
}

const iso = (ms: number) => new Date(ms).toISOString();
