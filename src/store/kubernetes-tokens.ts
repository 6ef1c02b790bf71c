/**
 * The API's tokens on Kubernetes: one Secret (`kanari-api-tokens` in the operator's
 * namespace), one key per token, its id, holding the token's row as JSON — its SHA-256,
 * never the token. Every replica reads the Secret into memory and answers from there; a
 * read older than `maxAgeMs` is done again before a request is let in, so a token revoked
 * on one replica is refused by every other within that bound (a short cache rather than a
 * watch: the bound holds even when a watch would have broken without anyone noticing).
 * When the Secret cannot be read, what was read last serves for `maxStaleMs`, then
 * requests get a 503 saying why: a revocation is never missed for longer.
 *
 * Writes read the Secret, change one key and write it back at the resourceVersion read;
 * a conflict (another replica wrote) reads again and retries, so no replica loses
 * another's token. A key someone edited by hand into something that is not a row is
 * logged, left as it is and never used; the other rows keep working.
 */
import { z } from 'zod';
import { describeRef, KubeConflict, KubeError, type KubeClient, type KubeObject, type ObjectRef } from '../kube/api.js';
import { TOKENS_SECRET } from '../kube/manifests.js';
import { HttpError } from '../shared/http.js';
import { DuplicateTokenName, type TokenRow, type TokenRows } from './tokens.js';

export { TOKENS_SECRET };

export interface KubeTokenOptions {
  client: KubeClient;
  namespace: string;
  /** The Secret's name (TOKENS_SECRET unless said). */
  name?: string;
  log: (line: string) => void;
  /** A read this old is done again before a token is trusted (5 s unless said). */
  maxAgeMs?: number;
  /** How long the last read serves while the Secret cannot be read (30 s unless said). */
  maxStaleMs?: number;
  /** A token id not known here reads the Secret again at most this often (1 s unless said): a made-up id costs nothing. */
  missIntervalMs?: number;
  now?: () => number;
}

interface Secret extends KubeObject {
  data?: Record<string, string>;
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
/** Writers that keep conflicting: each retry waits a little longer, with jitter, so they spread out. */
const WRITE_ATTEMPTS = 10;
const RETRY_MS = 1000;

export class KubernetesTokenRows implements TokenRows {
  private rows = new Map<string, TokenRow>();
  private readAt = -Infinity;
  private missReadAt = -Infinity;
  private reading: Promise<void> | undefined;
  /** The last read's failure, while reads fail. */
  private failure: { at: number; message: string } | undefined;
  /** Keys already logged as not rows, with their value's start: each said once. */
  private readonly refused = new Set<string>();
  /** Tokens whose last use is being written: requests that come together write it once. */
  private readonly touching = new Set<string>();
  private readonly ref: ObjectRef;
  private readonly now: () => number;

  constructor(private readonly o: KubeTokenOptions) {
    this.ref = { apiVersion: 'v1', kind: 'Secret', namespace: o.namespace, name: o.name ?? TOKENS_SECRET };
    this.now = o.now ?? Date.now;
  }

  async refresh(id?: string): Promise<void> {
    const now = this.now();
    const old = now - this.readAt >= (this.o.maxAgeMs ?? 5000);
    const missing = id !== undefined && !this.rows.has(id) && now - this.missReadAt >= (this.o.missIntervalMs ?? 1000);
    if (!old && !missing) return;
    // While the Secret cannot be read, it is tried at most once a second, not once per request.
    if (this.failure && now - this.failure.at < RETRY_MS) return this.checkStale();
    if (missing) this.missReadAt = now;
    try {
      await (this.reading ??= this.read().finally(() => (this.reading = undefined)));
      if (this.failure) this.o.log(`the tokens Secret ${describeRef(this.ref)} can be read again`);
      this.failure = undefined;
    } catch (err) {
      const message = (err as Error).message;
      // Said once an outage, not once a request.
      if (!this.failure) this.o.log(`cannot read the tokens Secret ${describeRef(this.ref)}: ${message}`);
      this.failure = { at: this.now(), message };
      this.checkStale();
    }
  }

  /** A 503 once the last read is older than `maxStaleMs`: a revocation since may not be known. */
  private checkStale(): void {
    if (this.failure && this.now() - this.readAt > (this.o.maxStaleMs ?? 30_000))
      throw new HttpError(503, `cannot read the API's tokens (${describeRef(this.ref)}): ${this.failure.message}`);
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
    await this.change((data) => {
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
    await this.change((data) => {
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
      await this.change((data) => {
        const row = data[id] === undefined ? undefined : this.parse(id, data[id]);
        if (!row || (row.lastUsedAt ?? -1) >= at) return false;
        data[id] = encode({ ...row, lastUsedAt: at });
        return true;
      });
    } finally {
      this.touching.delete(id);
    }
  }

  private async read(): Promise<void> {
    const secret = await this.o.client.get<Secret>(this.ref);
    this.take(secret);
  }

  /** The rows of `secret` (none when there is none) become what this replica answers from. */
  private take(secret: Secret | undefined): void {
    const rows = new Map<string, TokenRow>();
    for (const [key, value] of Object.entries(secret?.data ?? {})) {
      const row = this.parse(key, value);
      if (row) rows.set(row.id, row);
    }
    this.rows = rows;
    this.readAt = this.now();
  }

  /**
   * Reads the Secret, lets `edit` change its data (false: nothing to write), and writes it
   * at the version read; makes the Secret when there is none. Conflicts are read again.
   */
  private async change(edit: (data: Record<string, string>) => boolean): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const current = await this.o.client.get<Secret>(this.ref);
        const data = { ...(current?.data ?? {}) };
        if (!edit(data)) return this.take(current);
        const written = current
          ? await this.o.client.replace<Secret>({ ...current, data })
          : await this.o.client.create<Secret>(this.secret(data));
        return this.take(written);
      } catch (err) {
        if (err instanceof KubeConflict && attempt < WRITE_ATTEMPTS) {
          await new Promise((resolve) => setTimeout(resolve, attempt * (5 + Math.random() * 20)));
          continue;
        }
        if (err instanceof KubeError)
          throw new HttpError(503, `cannot write the API's tokens (${describeRef(this.ref)}): ${err.message}`);
        throw err;
      }
    }
  }

  private secret(data: Record<string, string>): Secret {
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: this.ref.name,
        namespace: this.o.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'kanari', 'app.kubernetes.io/component': 'api-tokens' },
      },
      type: 'Opaque',
      data,
    };
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
        `the tokens Secret ${describeRef(this.ref)}: key ${JSON.stringify(key.slice(0, 80))} is ignored: ${checked}`,
      );
    }
    return undefined;
  }
}

/** The row a Secret's key holds, or why it holds none. */
function rowOf(key: string, value: unknown): TokenRow | string {
  if (!ID.test(key)) return 'its key is not a token id (16 hex digits)';
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(String(value), 'base64').toString('utf8'));
  } catch {
    return 'it is not base64 of a JSON object';
  }
  const parsed = stored.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return `${issue.path.join('.') || 'row'}: ${issue.message}`;
  }
  const { sha256, ...rest } = parsed.data;
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
