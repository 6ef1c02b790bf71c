/**
 * Browser sessions on Kubernetes: one Secret (`kanari-api-sessions` in the operator's
 * namespace), one key per session, the hex of its id's SHA-256 (never the id), holding the
 * session's row as JSON. Every replica of the operator's API answers from its copy, read
 * again when `maxAgeMs` old, so a session signed out on one replica is refused by every
 * other within that bound; one not known here (made a moment ago on another replica) reads
 * the Secret again first, at most once per `missIntervalMs` (kubernetes-secret.ts).
 *
 * A Secret holds at most 1 MiB: every write drops the expired rows, an actor's oldest beyond
 * its cap, the oldest beyond `maxRows`, then the oldest until the data is under
 * `maxBytes`, and any key that is not a session's row. A row that could not have been made
 * here (a lifetime over 12 hours, a role or a way of signing in kanari does not give on a
 * cluster) is ignored as not a session: a forged row signs nobody in.
 *
 * Beside the rows, one key `oidc-flow-key`: 32 random bytes, made by the first replica that
 * needs them, with which every replica seals and opens the cookies of single sign-ons in
 * flight (oidc.ts, `SealedFlows`), so a callback may land on any replica.
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import { describeRef } from '../kube/api.js';
import { SESSIONS_SECRET } from '../kube/manifests.js';
import { decodeRow, SecretData, type SecretRowsOptions } from './kubernetes-secret.js';
import { SESSION_LIFETIME_MS, type SessionRow, type SessionRows } from './sessions.js';

export { SESSIONS_SECRET };

export interface KubeSessionOptions extends SecretRowsOptions {
  /** The Secret's name (SESSIONS_SECRET unless said). */
  name?: string;
  /** At most this many sessions (1000 unless said): a row is under 700 bytes, so they stay well under 1 MiB. */
  maxRows?: number;
  /** And at most this many bytes of keys and values (900 KiB unless said). */
  maxBytes?: number;
}

const HASH = /^[0-9a-f]{64}$/;
/** The key single sign-on's flow cookies are sealed with, beside the rows. */
export const FLOW_KEY = 'oidc-flow-key';
const time = z.number().int().nonnegative().max(8.64e15);
const stored = z.strictObject({
  // An OIDC actor is at most 205 characters (oidc.ts), a token's name 63.
  actor: z.string().min(1).max(256),
  role: z.enum(['viewer', 'operator', 'admin']),
  // No sign-in link on a cluster: a row saying so was not made by kanari.
  via: z.enum(['token', 'oidc']),
  tokenId: z
    .string()
    .regex(/^[0-9a-f]{16}$/)
    .optional(),
  csrf: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  createdAt: time,
  expiresAt: time,
});

export class KubernetesSessionRows implements SessionRows {
  private rows = new Map<string, SessionRow>();
  private flowKeyValue: Buffer | undefined;
  /** Keys already logged as not rows: each said once (at most 1000 remembered). */
  private readonly refused = new Set<string>();
  private readonly secret: SecretData;

  constructor(private readonly o: KubeSessionOptions) {
    this.secret = new SecretData({
      ...o,
      name: o.name ?? SESSIONS_SECRET,
      what: 'browser sessions',
      component: 'api-sessions',
      take: (data) => this.take(data),
    });
  }

  /** Reads again when old; a session not known here waits for the next read it may make (another replica signed it in). */
  refresh(hash?: Buffer): Promise<void> {
    const missing = hash !== undefined && !this.rows.has(hash.toString('hex'));
    return this.secret.refresh(missing, missing);
  }

  byHash(hash: Buffer): SessionRow | undefined {
    return this.rows.get(hash.toString('hex'));
  }

  /** The key single sign-on's flows are sealed with: read, or made (at the version read) when there is none yet. */
  async flowKey(): Promise<Buffer> {
    await this.refresh();
    if (this.flowKeyValue) return this.flowKeyValue;
    await this.secret.change((data) => {
      if (keyOf(data[FLOW_KEY])) return false;
      data[FLOW_KEY] = crypto.randomBytes(32).toString('base64');
      return true;
    });
    if (!this.flowKeyValue) throw new Error(`the sessions Secret holds no usable ${FLOW_KEY}`);
    return this.flowKeyValue;
  }

  async insert(s: SessionRow, cap: number, perActor = cap): Promise<void> {
    await this.secret.change((data) => {
      const key = s.hash.toString('hex');
      const flowKey = data[FLOW_KEY];
      const rows = [...this.parseAll(data), s].filter((r) => r.expiresAt > s.createdAt);
      // Newest first: what is cut is the oldest.
      rows.sort((a, b) => b.createdAt - a.createdAt);
      const perActorKept = new Map<string, number>();
      const kept: [string, string][] = [];
      let bytes = flowKey === undefined ? 0 : FLOW_KEY.length + flowKey.length;
      for (const r of rows) {
        const n = perActorKept.get(r.actor) ?? 0;
        if (n >= perActor) continue;
        if (kept.length >= Math.min(cap, this.o.maxRows ?? 1000)) break;
        const entry: [string, string] = [r.hash.toString('hex'), encode(r)];
        bytes += entry[0].length + entry[1].length;
        if (bytes > (this.o.maxBytes ?? 900 * 1024)) break;
        perActorKept.set(r.actor, n + 1);
        kept.push(entry);
      }
      if (!kept.some(([k]) => k === key)) throw new Error('a new session does not fit in the sessions Secret');
      for (const k of Object.keys(data)) delete data[k];
      Object.assign(data, Object.fromEntries(kept), flowKey === undefined ? {} : { [FLOW_KEY]: flowKey });
      return true;
    });
  }

  async remove(hash: Buffer): Promise<boolean> {
    const key = hash.toString('hex');
    let removed = false;
    await this.secret.change((data) => {
      if (data[key] === undefined) return false;
      delete data[key];
      return (removed = true);
    });
    return removed;
  }

  private take(data: Record<string, string>): void {
    this.flowKeyValue = keyOf(data[FLOW_KEY]);
    this.rows = new Map(this.parseAll(data).map((r) => [r.hash.toString('hex'), r]));
  }

  private parseAll(data: Record<string, string>): SessionRow[] {
    const rows: SessionRow[] = [];
    for (const [key, value] of Object.entries(data)) {
      if (key === FLOW_KEY) continue;
      const row = rowOf(key, value);
      if (typeof row !== 'string') rows.push(row);
      else if (!this.refused.has(key) && this.refused.size < 1000) {
        this.refused.add(key);
        // The value is not logged: whatever was pasted there may be a secret.
        this.o.log(
          `the browser sessions Secret ${describeRef(this.secret.ref)}: key ${JSON.stringify(key.slice(0, 80))} is ignored: ${row}`,
        );
      }
    }
    return rows;
  }
}

/** The row a Secret's key holds, or why it holds none. */
function rowOf(key: string, value: unknown): SessionRow | string {
  if (!HASH.test(key)) return 'its key is not a session id’s hash (64 hex digits)';
  const row = decodeRow(value, stored);
  if (typeof row === 'string') return row;
  const lifetime = row.expiresAt - row.createdAt;
  if (lifetime <= 0 || lifetime > SESSION_LIFETIME_MS) return 'its lifetime is not one kanari gives (up to 12 hours)';
  if ((row.via === 'token') !== (row.tokenId !== undefined))
    return 'a session signed in with a token names its token, and only that one';
  return { ...row, hash: Buffer.from(key, 'hex') };
}

/** 32 bytes, or undefined for anything else. */
function keyOf(value: string | undefined): Buffer | undefined {
  const key = value === undefined ? undefined : Buffer.from(value, 'base64');
  return key?.length === 32 ? key : undefined;
}

function encode(row: SessionRow): string {
  const { hash: _hash, ...rest } = row;
  return Buffer.from(JSON.stringify(rest)).toString('base64');
}
