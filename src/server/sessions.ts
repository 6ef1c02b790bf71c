/**
 * Browser sessions: a random id (256 bits) in an HttpOnly cookie, kept only as its SHA-256
 * hash in the store, with a CSRF token per session that a page of this origin reads from
 * `GET /auth/session` and sends back on every request that changes something. A session
 * lasts 12 hours from sign-in, however busy; one signed in with a token ends with the token.
 */
import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../shared/http.js';
import { EndWatchers } from './end-watchers.js';
import { sameSecret, sha256 } from './secrets.js';
import { SESSION_LIFETIME_MS, type SessionRows } from '../store/sessions.js';
import type { TokenRows } from '../store/tokens.js';
import type { Principal, Role, SessionRef, SignInVia, Tokens } from './tokens.js';

export const SESSION_COOKIE = 'kanari_session';

/**
 * The session cookie's name: with `__Host-` when it is Secure, a prefix a browser takes only
 * from a page served over HTTPS, on `/` and for this host alone (no Domain), so a plain-HTTP
 * page or a sibling site cannot plant one; and only that name is read then.
 */
export function sessionCookieName(secure: boolean): string {
  return secure ? `__Host-${SESSION_COOKIE}` : SESSION_COOKIE;
}
export { SESSION_LIFETIME_MS };
/** Sign-ins beyond this drop the oldest sessions, so signing in in a loop cannot fill the disk. */
export const MAX_SESSIONS = 10_000;
/** And beyond this for one actor drop that actor's oldest: one token signing in in a loop signs nobody else out. */
export const MAX_SESSIONS_PER_ACTOR = 100;

/**
 * Sign-ins one actor may make in a minute (per controller or operator replica): each writes
 * the session store — on a cluster the whole sessions Secret, up to 900 KiB into etcd, which
 * keeps every version until compaction — so a token signing in in a loop is refused (429).
 */
export const SIGN_INS_PER_MINUTE = 10;
/** Actors whose recent sign-ins are remembered, at most (the oldest forgotten first). */
const RATE_ACTORS = 10_000;

const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;
const CSRF_HEADER = 'x-csrf-token';

export class Sessions {
  /** What to call when a session is signed out, by its key: the event streams it holds open. */
  private readonly onEnd: EndWatchers;
  /** Each actor's sign-ins of the last minute, oldest actor first. */
  private readonly signIns = new Map<string, number[]>();

  constructor(
    private readonly table: SessionRows,
    private readonly tokens: TokenRows,
    private readonly now: () => number = Date.now,
  ) {
    this.onEnd = new EndWatchers(now);
  }

  /** Starts a session; the id is in the cookie and nowhere else. A 429 past SIGN_INS_PER_MINUTE for the actor. */
  async start(o: {
    actor: string;
    role: Role;
    via: SignInVia;
    tokenId?: string;
  }): Promise<{ id: string; expiresAt: number }> {
    const at = this.now();
    this.countSignIn(o.actor, at);
    const id = crypto.randomBytes(32).toString('base64url');
    const expiresAt = at + SESSION_LIFETIME_MS;
    await this.table.insert(
      {
        hash: sha256(id),
        actor: o.actor,
        role: o.role,
        via: o.via,
        ...(o.tokenId === undefined ? {} : { tokenId: o.tokenId }),
        csrf: crypto.randomBytes(32).toString('base64url'),
        createdAt: at,
        expiresAt,
      },
      MAX_SESSIONS,
      MAX_SESSIONS_PER_ACTOR,
    );
    return { id, expiresAt };
  }

  /** Counts a sign-in of `actor` at `at`, or refuses it (429) when it would be more than SIGN_INS_PER_MINUTE. */
  private countSignIn(actor: string, at: number): void {
    const recent = (this.signIns.get(actor) ?? []).filter((t) => t > at - 60_000);
    if (recent.length >= SIGN_INS_PER_MINUTE) {
      const wait = Math.max(1, Math.ceil((recent[0]! + 60_000 - at) / 1000));
      throw new HttpError(
        429,
        `${actor} signed in ${recent.length} times in the last minute: try again in ${wait} s`,
        { reason: 'sign-in-rate' },
        { 'retry-after': String(wait) },
      );
    }
    recent.push(at);
    this.signIns.delete(actor);
    this.signIns.set(actor, recent);
    if (this.signIns.size > RATE_ACTORS) this.signIns.delete(this.signIns.keys().next().value!);
  }

  /**
   * `authenticate` on rows read again first when they are kept elsewhere: another replica
   * may have made the session, signed it out, or revoked its token.
   */
  async authenticateCurrent(id: string): Promise<Principal> {
    if (!SESSION_ID.test(id)) return this.authenticate(id);
    await this.table.refresh?.(sha256(id));
    const tokenId = this.table.byHash(sha256(id))?.tokenId;
    if (tokenId !== undefined) await this.tokens.refresh?.(tokenId);
    return this.authenticate(id);
  }

  /** The principal a session cookie's value names; a 401 saying why for anything else. */
  authenticate(id: string): Principal {
    const row = SESSION_ID.test(id) ? this.table.byHash(sha256(id)) : undefined;
    if (!row) throw unauthorized('no such session (signed out, expired or never made): sign in again');
    if (row.expiresAt <= this.now()) {
      this.forget(row.hash);
      throw unauthorized(`the session expired at ${new Date(row.expiresAt).toISOString()}: sign in again`);
    }
    if (row.tokenId !== undefined) {
      const token = this.tokens.byId(row.tokenId);
      if (!token || token.revokedAt !== undefined || (token.expiresAt ?? Infinity) <= this.now()) {
        this.forget(row.hash);
        throw unauthorized('the token this session was signed in with was revoked or expired: sign in again');
      }
    }
    return {
      name: row.actor,
      role: row.role as Role,
      ...(row.tokenId === undefined ? {} : { tokenId: row.tokenId }),
      session: { key: row.hash.toString('hex'), csrf: row.csrf, expiresAt: row.expiresAt, via: row.via as SignInVia },
    };
  }

  /** Drops a session found dead; a store that takes no writes (a full disk) refuses it all the same. */
  private forget(hash: Buffer): void {
    try {
      Promise.resolve(this.table.remove(hash)).catch(() => {});
    } catch {
      // It stays refused: its expiry or its token says so at every request.
    }
  }

  /** Signs a session out: its row goes, and so do the streams it holds open. */
  async end(session: SessionRef): Promise<void> {
    await this.table.remove(Buffer.from(session.key, 'hex'));
    this.onEnd.end(session.key);
  }

  /**
   * Calls `end` once the session is signed out or expires (its token's end is `Tokens.whileValid`'s).
   * Returns what stops watching.
   */
  whileValid(session: SessionRef, end: () => void): () => void {
    return this.onEnd.watch(session.key, session.expiresAt, end);
  }
}

/**
 * Calls `end` once whatever the principal came with (its token, its session) ends here:
 * revoked, signed out or expired. Returns what stops watching. A connection that outlives
 * its request (an event stream) must not outlive what let it in.
 */
export function whileSignedIn(
  p: Principal,
  tokens: Tokens,
  sessions: Sessions | undefined,
  end: () => void,
): () => void {
  const stops = [
    ...(p.tokenId === undefined ? [] : [tokens.whileValid({ ...p, tokenId: p.tokenId }, end)]),
    ...(p.session === undefined || sessions === undefined ? [] : [sessions.whileValid(p.session, end)]),
  ];
  return () => stops.forEach((stop) => stop());
}

/**
 * Who a request comes from: its bearer token when it has an `Authorization` header (a
 * machine; a cookie beside it is ignored), else its session cookie (a browser), else a 401.
 */
export function requestPrincipal(req: IncomingMessage, tokens: Tokens, sessions: Sessions, secure: boolean): Principal {
  if (req.headers.authorization !== undefined) return tokens.authenticate(req.headers.authorization);
  const id = sessionCookie(req.headers.cookie, secure);
  return id === undefined ? tokens.authenticate(undefined) : sessions.authenticate(id);
}

/** The session cookie's value, if there is one; two of them (one set by a sibling site) are refused, not guessed between. */
export function sessionCookie(header: string | undefined, secure: boolean): string | undefined {
  const name = sessionCookieName(secure);
  const values = cookieValues(header, name);
  if (values.length > 1)
    throw unauthorized(
      `the request carries ${values.length} ${name} cookies: clear this site's cookies and sign in again`,
    );
  return values[0];
}

/** Every value a `Cookie` header gives the cookie `name` (RFC 6265 §5.4: pairs joined by `; `). */
export function cookieValues(header: string | undefined, name: string): string[] {
  return (header ?? '')
    .split(';')
    .map((pair) => pair.trim())
    .filter((pair) => pair.startsWith(`${name}=`))
    .map((pair) => pair.slice(name.length + 1));
}

/** A request made with a session cookie that changes something must carry the session's CSRF token (a 403 else). */
export function checkCsrf(req: IncomingMessage, session: SessionRef): void {
  const sent = req.headers[CSRF_HEADER];
  const ok = typeof sent === 'string' && sameSecret(sent, session.csrf);
  if (!ok) throw new HttpError(403, 'missing or wrong CSRF token (X-CSRF-Token)', { reason: 'csrf' });
}

/** The `Set-Cookie` value for a session (`id`), or one that clears it (no id). */
export function sessionCookieHeader(secure: boolean, id?: string): string {
  const age = id === undefined ? 0 : SESSION_LIFETIME_MS / 1000;
  return `${sessionCookieName(secure)}=${id ?? ''}; HttpOnly; SameSite=Lax; Path=/; Max-Age=${age}${secure ? '; Secure' : ''}`;
}

/**
 * The sign-in links `kanari up` prints: a code valid once, for 60 s, kept only as its hash
 * and only in memory (a restart forgets them, which is the point).
 */
export class SignInCodes {
  static readonly LIFETIME_MS = 60_000;
  private static readonly MAX = 100;
  private readonly codes = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  issue(): string {
    const now = this.now();
    for (const [hash, expiresAt] of this.codes) if (expiresAt <= now) this.codes.delete(hash);
    // Maps keep insertion order: the first is the oldest.
    if (this.codes.size >= SignInCodes.MAX) this.codes.delete(this.codes.keys().next().value!);
    const code = crypto.randomBytes(32).toString('base64url');
    this.codes.set(sha256(code).toString('hex'), now + SignInCodes.LIFETIME_MS);
    return code;
  }

  /** Whether `code` was issued and is still valid; either way it is not any more. */
  redeem(code: string): boolean {
    const hash = sha256(code).toString('hex');
    const expiresAt = this.codes.get(hash);
    this.codes.delete(hash);
    return expiresAt !== undefined && expiresAt > this.now();
  }
}

function unauthorized(detail: string): HttpError {
  return new HttpError(401, detail, {}, { 'www-authenticate': 'Bearer' });
}

/** The line `kanari up` and `kanari demo` print: the dashboard at `url` and a fresh sign-in link, good once within 60 s. */
export function dashboardLine(url: string, codes: SignInCodes): string {
  return `dashboard: ${url}/  sign in (once, within 60 s): ${url}/sign-in?code=${codes.issue()}`;
}
