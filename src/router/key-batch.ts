/**
 * Key records on their way from a router worker to the primary, which holds the service's one
 * tracker (per-worker sets would count a user served by two workers twice). Eight bytes a
 * record — the key's hash, then version, flags and level — sent as base64 every 100 ms.
 */
import { VERSIONS, type Version } from '../shared/stats-snapshot.js';
import { NO_LEVEL } from '../shared/key-stats.js';
import type { KeySink } from './keys.js';

const FLUSH_MS = 100;
/** Records held before a batch goes out early, whatever the timer says. */
const MAX_RECORDS = 16_384;
const KEYED = 1 << 2;
const FAILED = 1 << 3;

/** Buffers a worker's records and hands each batch to `send`. */
export class KeyBatcher implements KeySink {
  private words = new Uint32Array(2 * MAX_RECORDS);
  private n = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly send: (batch: string) => void) {
    this.timer = setInterval(() => this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  add(hash: number | undefined, version: Version, failed: boolean, level: number): void {
    const flags = VERSIONS.indexOf(version) | (hash === undefined ? 0 : KEYED) | (failed ? FAILED : 0);
    this.words[2 * this.n] = hash ?? 0;
    this.words[2 * this.n + 1] = flags | ((level - NO_LEVEL) << 16);
    if (++this.n === MAX_RECORDS) this.flush();
  }

  /** Sends what is held now; before a stats reply, so the primary's counts include it. */
  flush(): void {
    if (this.n === 0) return;
    const batch = Buffer.from(this.words.buffer, 0, 8 * this.n).toString('base64');
    this.n = 0;
    this.send(batch);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Feeds a worker's batch to the primary's tracker. */
export function replayBatch(batch: string, sink: KeySink): void {
  const bytes = Buffer.from(batch, 'base64');
  // Copied: a decoded Buffer may sit at an offset a Uint32Array cannot start from.
  const words = new Uint32Array(2 * Math.floor(bytes.length / 8));
  new Uint8Array(words.buffer).set(bytes.subarray(0, words.byteLength));
  for (let i = 0; i < words.length; i += 2) {
    const flags = words[i + 1]!;
    const version = VERSIONS[flags & 3];
    if (!version) continue;
    sink.add(flags & KEYED ? words[i]! : undefined, version, (flags & FAILED) !== 0, (flags >>> 16) + NO_LEVEL);
  }
}
