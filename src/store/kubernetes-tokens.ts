/**
 * The API's tokens on Kubernetes: one Secret (`kanari-api-tokens` in the operator's
 * namespace), one key per token, its id, holding the token's row as JSON — its SHA-256,
 * never the token. Every replica answers from its copy, read again when `maxAgeMs` old, so
 * a token revoked on one replica is refused by every other within that bound; writes are
 * made at the version read (kubernetes-secret.ts). A key someone edited by hand into
 * something that is not a row is logged, left as it is and never used; the other rows
 * keep working.
 */
import { z } from 'zod';
import { describeRef } from '../kube/api.js';
import { TOKENS_SECRET } from '../kube/manifests.js';
import { decodeRow, SecretData, type SecretRowsOptions } from './kubernetes-secret.js';
import { DuplicateTokenName, type TokenRow, type TokenRows } from './tokens.js';

export { TOKENS_SECRET };

export interface KubeTokenOptions extends SecretRowsOptions {
  /** The Secret's name (TOKENS_SECRET unless said). */
  name?: string;
}

/** A token's id, as `Tokens` makes it: also what a Secret's key may be. */
const ID = /^[0-9a-f]{16}$/;
const time = z.number().int().nonnegative().max(8.64e15);
/** Who made or revoked a token: a Kubernetes user name runs to 339 characters (a ServiceAccount's), an OIDC one longer. */
const MAX_ACTOR = 1024;
const actor = z.string().max(MAX_ACTOR);
const stored = z.strictObject({
  name: z.string().min(1).max(63),
  role: z.enum(['viewer', 'operator', 'admin']),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: time,
  createdBy: actor.optional(),
  expiresAt: time.optional(),
  lastUsedAt: time.optional(),
  revokedAt: time.optional(),
  revokedBy: actor.optional(),
});

export class KubernetesTokenRows implements TokenRows {
  private rows = new Map<string, TokenRow>();
  /** Keys already logged as not rows, with their value's start: each said once. */
  private readonly refused = new Set<string>();
  /** Tokens whose last use is being written: requests that come together write it once. */
  private readonly touching = new Set<string>();
  private readonly secret: SecretData;

  constructor(private readonly o: KubeTokenOptions) {
    this.secret = new SecretData({
      ...o,
      name: o.name ?? TOKENS_SECRET,
      what: 'tokens',
      component: 'api-tokens',
      take: (data) => this.take(data),
    });
  }

  refresh(id?: string): Promise<void> {
    return this.secret.refresh(id !== undefined && !this.rows.has(id));
  }

  byId(id: string): TokenRow | undefined {
    return this.rows.get(id);
  }

  byHash(hash: Buffer): TokenRow | undefined {
    return [...this.rows.values()].find((r) => r.hash.equals(hash));
  }

  byName(name: string): TokenRow[] {
    return [...this.rows.values()]
      .filter((r) => r.name === name)
      .sort(
        (a, b) => Number(a.revokedAt !== undefined) - Number(b.revokedAt !== undefined) || b.createdAt - a.createdAt,
      );
  }

  list(): TokenRow[] {
    return [...this.rows.values()].sort((a, b) => a.createdAt - b.createdAt);
  }

  async insert(t: TokenRow): Promise<void> {
    await this.secret.change((data) => {
      if (data[t.id] !== undefined) throw new Error(`a token with the id ${t.id} exists already`);
      const taken = Object.entries(data).some(([key, value]) => {
        const row = this.parse(key, value);
        return row?.name === t.name && row.revokedAt === undefined;
      });
      if (taken) throw new DuplicateTokenName(`a token named ${t.name} exists already`);
      data[t.id] = encode(t);
      return true;
    });
  }

  async revoke(id: string, at: number, by?: string): Promise<boolean> {
    let revoked = false;
    await this.secret.change((data) => {
      const row = data[id] === undefined ? undefined : this.parse(id, data[id]);
      if (!row || row.revokedAt !== undefined) return false;
      data[id] = encode({ ...row, revokedAt: at, ...(by === undefined ? {} : { revokedBy: by }) });
      return (revoked = true);
    });
    return revoked;
  }

  async touch(id: string, at: number): Promise<void> {
    if (this.touching.has(id)) return;
    this.touching.add(id);
    try {
      await this.secret.change((data) => {
        const row = data[id] === undefined ? undefined : this.parse(id, data[id]);
        if (!row || (row.lastUsedAt ?? -1) >= at) return false;
        data[id] = encode({ ...row, lastUsedAt: at });
        return true;
      });
    } finally {
      this.touching.delete(id);
    }
  }

  /** The rows of a Secret's data become what this replica answers from. */
  private take(data: Record<string, string>): void {
    const rows = new Map<string, TokenRow>();
    for (const [key, value] of Object.entries(data)) {
      const row = this.parse(key, value);
      if (row) rows.set(row.id, row);
    }
    this.rows = rows;
  }

  /** The row a key holds, or undefined (logged once) when it holds anything else. */
  private parse(key: string, value: unknown): TokenRow | undefined {
    const checked = rowOf(key, value);
    if (typeof checked !== 'string') return checked;
    const seen = `${key}\0${String(value).slice(0, 64)}`;
    if (!this.refused.has(seen)) {
      this.refused.add(seen);
      // The value is not logged: whatever was pasted there may be a secret.
      this.o.log(
        `the tokens Secret ${describeRef(this.secret.ref)}: key ${JSON.stringify(key.slice(0, 80))} is ignored: ${checked}`,
      );
    }
    return undefined;
  }
}

/** The row a Secret's key holds, or why it holds none. */
function rowOf(key: string, value: unknown): TokenRow | string {
  if (!ID.test(key)) return 'its key is not a token id (16 hex digits)';
  const row = decodeRow(value, stored);
  if (typeof row === 'string') return row;
  const { sha256, ...rest } = row;
  return { id: key, ...rest, hash: Buffer.from(sha256, 'hex') };
}

function encode(row: TokenRow): string {
  const { id: _id, hash, createdBy, revokedBy, ...rest } = row;
  // Cut to what a read takes back: a row written longer would be ignored, and its token with it.
  const actors = {
    ...(createdBy === undefined ? {} : { createdBy: createdBy.slice(0, MAX_ACTOR) }),
    ...(revokedBy === undefined ? {} : { revokedBy: revokedBy.slice(0, MAX_ACTOR) }),
  };
  return Buffer.from(JSON.stringify({ ...rest, ...actors, sha256: hash.toString('hex') })).toString('base64');
}
