/**
 * One Secret that several operator replicas keep rows in (the API's tokens, the browser's
 * sessions), read into memory and answered from there. A read older than `maxAgeMs` is done
 * again before a request is let in, so what one replica changes every other sees within
 * that bound (a short cache rather than a watch: the bound holds even when a watch would
 * have broken without anyone noticing). When the Secret cannot be read, what was read last
 * serves for `maxStaleMs`, then requests get a 503 saying why: an end is never missed for
 * longer.
 *
 * Writes read the Secret, change its data and write it back at the resourceVersion read; a
 * conflict (another replica wrote) reads again and retries, so no replica loses another's row.
 */
import { describeRef, KubeConflict, KubeError, type KubeClient, type KubeObject, type ObjectRef } from '../kube/api.js';
import type { z } from 'zod';
import { HttpError } from '../shared/http.js';

export interface SecretRowsOptions {
  client: KubeClient;
  namespace: string;
  log: (line: string) => void;
  /** A read this old is done again before a row is trusted (5 s unless said). */
  maxAgeMs?: number;
  /** How long the last read serves while the Secret cannot be read (30 s unless said). */
  maxStaleMs?: number;
  /** A row not known here reads the Secret again at most this often (1 s unless said): a made-up key costs little. */
  missIntervalMs?: number;
  now?: () => number;
}

export interface Secret extends KubeObject {
  data?: Record<string, string>;
}

/** Writers that keep conflicting: each retry waits a little longer, with jitter, so they spread out. */
const WRITE_ATTEMPTS = 10;
const RETRY_MS = 1000;

export class SecretData {
  private readAt = -Infinity;
  private missReadAt = -Infinity;
  private reading: Promise<void> | undefined;
  /** The last read's failure, while reads fail. */
  private failure: { at: number; message: string } | undefined;
  readonly ref: ObjectRef;
  readonly now: () => number;

  constructor(
    private readonly o: SecretRowsOptions & {
      name: string;
      /** What the rows are, in the log and the 503s: `tokens`, `browser sessions`. */
      what: string;
      /** The label app.kubernetes.io/component of a Secret made here. */
      component: string;
      /** Each read or written Secret's data (none when there is no Secret). */
      take: (data: Record<string, string>) => void;
    },
  ) {
    this.ref = { apiVersion: 'v1', kind: 'Secret', namespace: o.namespace, name: o.name };
    this.now = o.now ?? Date.now;
  }

  /**
   * Reads the Secret again when the last read is `maxAgeMs` old, or when `missing` (a row
   * looked for is not known here) and no miss read it in the last `missIntervalMs`; with
   * `waitForMiss`, a miss within that interval waits for its end and reads then.
   */
  async refresh(missing = false, waitForMiss = false): Promise<void> {
    let now = this.now();
    const old = now - this.readAt >= (this.o.maxAgeMs ?? 5000);
    let miss = missing && now - this.missReadAt >= (this.o.missIntervalMs ?? 1000);
    if (missing && !miss && waitForMiss) {
      await new Promise((resolve) => setTimeout(resolve, this.missReadAt + (this.o.missIntervalMs ?? 1000) - now));
      now = this.now();
      miss = now - this.missReadAt >= (this.o.missIntervalMs ?? 1000);
      // Another request waited for the same read and made it: this one shares it, and its
      // failure as that one takes it (the last read serves, then a 503), never as a bare error.
      if (!miss) return this.reading?.then(undefined, () => this.checkStale());
    }
    if (!old && !miss) return;
    // While the Secret cannot be read, it is tried at most once a second, not once per request.
    if (this.failure && now - this.failure.at < RETRY_MS) return this.checkStale();
    if (miss) this.missReadAt = now;
    try {
      await (this.reading ??= this.read().finally(() => (this.reading = undefined)));
      if (this.failure) this.o.log(`the ${this.o.what} Secret ${describeRef(this.ref)} can be read again`);
      this.failure = undefined;
    } catch (err) {
      const message = (err as Error).message;
      // Said once an outage, not once a request.
      if (!this.failure) this.o.log(`cannot read the ${this.o.what} Secret ${describeRef(this.ref)}: ${message}`);
      this.failure = { at: this.now(), message };
      this.checkStale();
    }
  }

  /** A 503 once the last read is older than `maxStaleMs`: an end since may not be known. */
  private checkStale(): void {
    if (this.failure && this.now() - this.readAt > (this.o.maxStaleMs ?? 30_000))
      throw new HttpError(
        503,
        `cannot read the API's ${this.o.what} (${describeRef(this.ref)}): ${this.failure.message}`,
      );
  }

  private async read(): Promise<void> {
    this.accept(await this.o.client.get<Secret>(this.ref));
  }

  private accept(secret: Secret | undefined): void {
    this.o.take(secret?.data ?? {});
    this.readAt = this.now();
  }

  /**
   * Reads the Secret, lets `edit` change its data (false: nothing to write), and writes it
   * at the version read; makes the Secret when there is none. Conflicts are read again.
   */
  async change(edit: (data: Record<string, string>) => boolean): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const current = await this.o.client.get<Secret>(this.ref);
        const data = { ...(current?.data ?? {}) };
        if (!edit(data)) return this.accept(current);
        const written = current
          ? await this.o.client.replace<Secret>({ ...current, data })
          : await this.o.client.create<Secret>(this.secret(data));
        return this.accept(written);
      } catch (err) {
        if (err instanceof KubeConflict && attempt < WRITE_ATTEMPTS) {
          await new Promise((resolve) => setTimeout(resolve, attempt * (5 + Math.random() * 20)));
          continue;
        }
        if (err instanceof KubeError)
          throw new HttpError(503, `cannot write the API's ${this.o.what} (${describeRef(this.ref)}): ${err.message}`);
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
        labels: { 'app.kubernetes.io/managed-by': 'kanari', 'app.kubernetes.io/component': this.o.component },
      },
      type: 'Opaque',
      data,
    };
  }
}

/** A Secret's value as a row of `schema`: base64 of a JSON object of that shape, or why it is not one. */
export function decodeRow<T>(value: unknown, schema: z.ZodType<T>): T | string {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(String(value), 'base64').toString('utf8'));
  } catch {
    return 'it is not base64 of a JSON object';
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  return `${issue.path.join('.') || 'row'}: ${issue.message}`;
}
