/**
 * Reading an Argo Rollouts or Flagger object that a person (or a cluster) may have put in
 * any shape: every field is read through a `Field`, which checks its type and names its
 * place in the file when it is wrong, and every field left unread is reported as not
 * carried — so the list of what was dropped is exact, and no input crashes the importer.
 */
import { ConfigError } from '../errors.js';
import type { ParsedDocument } from '../load.js';
import { describeValue } from '../messages.js';

export type SourcePath = readonly (string | number)[];

/** One thing of the source that the kanari documents do not carry, and why. */
export interface NotCarried {
  /** The source document (`Rollout/guestbook`) and the path in it. */
  document: string;
  path: SourcePath;
  reason: string;
  /** `file:line:col` of the field, when the source was a file. */
  at?: string;
}

/** What every field of one source document reports to. */
export class SourceDocument {
  readonly notCarried: NotCarried[] = [];
  private readonly seen = new Set<string>();
  /** For a template: whether a Rollout or Canary used it (one none uses is listed as left out). */
  used = false;
  constructor(
    readonly parsed: ParsedDocument,
    readonly label: string,
  ) {}

  root(): Field {
    return new Field(this.parsed.value, [], this);
  }

  /** Reports a field once, however many times it is read (a template converted for each use). */
  drop(path: SourcePath, reason: string): void {
    const key = JSON.stringify([path, reason]);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const at = this.parsed.located(path);
    this.notCarried.push({ document: this.label, path, reason, at: `${at.file}:${at.line}:${at.col}` });
  }

  error(path: SourcePath, message: string): ConfigError {
    return new ConfigError([{ ...this.parsed.located(path), message }]);
  }
}

type Plain = Record<string, unknown>;

const isPlain = (v: unknown): v is Plain => v !== null && typeof v === 'object' && !Array.isArray(v);

export class Field {
  private readonly read = new Set<string>();
  constructor(
    readonly value: unknown,
    readonly path: SourcePath,
    readonly doc: SourceDocument,
  ) {}

  get present(): boolean {
    return this.value !== undefined && this.value !== null;
  }

  /** A child of this map; reading it marks it carried (or reported) for `rest()`. */
  get(key: string): Field {
    this.read.add(key);
    const value = isPlain(this.value) && Object.hasOwn(this.value, key) ? this.value[key] : undefined;
    return new Field(value, [...this.path, key], this.doc);
  }

  has(key: string): boolean {
    return isPlain(this.value) && Object.hasOwn(this.value, key) && this.value[key] !== null;
  }

  private fail(what: string): never {
    throw this.doc.error(this.path, `must be ${what} (got ${describeValue(this.value)})`);
  }

  str(): string | undefined {
    if (!this.present) return undefined;
    if (typeof this.value !== 'string') this.fail('a string');
    return this.value;
  }

  /** A number, or a string holding one (Argo's IntOrString fields). */
  num(): number | undefined {
    if (!this.present) return undefined;
    const n = typeof this.value === 'string' && /^-?\d+(\.\d+)?$/.test(this.value) ? Number(this.value) : this.value;
    if (typeof n !== 'number' || !Number.isFinite(n)) this.fail('a number');
    return n;
  }

  int(min = 0): number | undefined {
    const n = this.num();
    if (n !== undefined && (!Number.isInteger(n) || n < min)) this.fail(`a whole number of at least ${min}`);
    return n;
  }

  bool(): boolean | undefined {
    if (!this.present) return undefined;
    if (typeof this.value !== 'boolean') this.fail('true or false');
    return this.value;
  }

  /** The items of a list (none when absent). */
  list(): Field[] {
    if (!this.present) return [];
    if (!Array.isArray(this.value)) this.fail('a list');
    return this.value.map((v, i) => new Field(v, [...this.path, i], this.doc));
  }

  /** This map itself (checked), so its keys can be read. */
  map(): this {
    if (this.present && !isPlain(this.value)) this.fail('a map');
    return this;
  }

  keys(): string[] {
    return isPlain(this.map().value) ? Object.keys(this.value as Plain) : [];
  }

  /** A map of strings (labels, metadata). */
  strings(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k of this.keys()) out[k] = this.get(k).str() ?? '';
    return out;
  }

  drop(reason: string): void {
    if (this.present) this.doc.drop(this.path, reason);
  }

  /**
   * Reports every key of this map not read yet: with its reason from `reasons`, or as
   * unknown to the importer. Call it last, after reading what is carried.
   */
  rest(reasons: Record<string, string> = {}): void {
    for (const key of this.keys()) {
      if (this.read.has(key)) continue;
      this.read.add(key);
      const reason = Object.hasOwn(reasons, key)
        ? reasons[key]!
        : 'not a field kanari import knows; dropped (check whether it matters)';
      new Field((this.value as Plain)[key], [...this.path, key], this.doc).drop(reason);
    }
  }
}
