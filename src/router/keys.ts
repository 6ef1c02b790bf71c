/**
 * Distinct stickiness keys per version, each counted at most once per kind of event (first
 * seen, first error, first request above each latency level; see shared/key-stats.ts), in
 * bounded memory. An open-addressing table over typed arrays holds a 32-bit hash per key
 * (0 = empty slot) and a 16-bit state (failed bit, level). The hash is murmur3 under the
 * tracker's own seed, apart from the split's, so which keys are kept says nothing of their arm.
 * The table starts small and doubles at 70% full up to its capacity; past that it keeps only hashes below a limit, halving it each time, and drops
 * the keys above it: those are never counted again, on any version, so no key counts twice.
 * Two keys with one hash merge into one, which only drops the second.
 */
import type { RoutingTable, Version } from '../config/schemas/table.js';
import { keyLevel, NO_LEVEL, type KeyStats, type KeyTracking } from '../shared/key-stats.js';
import { MAX_VALUE } from '../shared/sketch.js';
import { VERSIONS, type StatsSnapshot } from '../shared/stats-snapshot.js';
import { murmur3 } from './hash.js';

const MAX_LOAD = 0.7;
/** Slots a tracker starts with (384 KiB); it doubles as users come, up to its capacity. */
const INITIAL_SLOTS = 1 << 16;
const FAILED = 0x8000;
const LEVEL_MASK = 0x7fff;
/** Levels are stored from NO_LEVEL up: 0 is a key not yet raised. */
const LEVELS = keyLevel(MAX_VALUE) - NO_LEVEL + 1;
const VERSION_INDEX: Record<Version, number> = { stable: 0, canary: 1, baseline: 2 };

/** What a finished request tells the tracker; a worker sends these to the primary. */
export interface KeySink {
  /** `hash`: keyHash of the request's stickiness key, or undefined for a request with none. */
  add(hash: number | undefined, version: Version, failed: boolean, level: number): void;
}

/** The tracker's hash of a stickiness key: murmur3 under a seed of its own (the split's is murmur3(service)). */
export function keyHasher(service: string): (key: string) => number {
  const seed = murmur3(`kanari-keys:${service}`);
  return (key) => murmur3(key, seed);
}

/** Whether a table sends nobody to a canary or baseline: everyone is on stable, between releases. */
export function stableOnly(table: RoutingTable): boolean {
  return table.weights.canary === 0 && table.weights.baseline === 0 && table.match.length === 0;
}

/**
 * Whether keys start afresh when `next` replaces `previous`: when a release begins (the
 * first table that sends anyone to a canary or baseline), so users served on stable between
 * releases are not already spent in it, and when it ends (a promotion or a rollback).
 */
export function startsFresh(previous: RoutingTable | undefined, next: RoutingTable): boolean {
  return stableOnly(next) || (previous !== undefined && stableOnly(previous));
}

export class KeyTracker implements KeySink {
  private hashes: Uint32Array;
  private states: Uint16Array;
  private mask: number;
  /** The most slots the table may grow to. */
  private readonly capacity: number;
  private held = 0;
  /** Hashes at or above this are outside the sample. */
  private limit = 2 ** 32;
  private epoch = 0;
  /** Drawn when this tracker is made: a new one (a router restart) has forgotten every key, whatever its epoch. */
  private readonly id = Math.floor(Math.random() * 2 ** 32);
  private readonly seen = new Float64Array(3);
  private readonly failed = new Float64Array(3);
  /** Per version, the first-slow difference array by level (index = level − NO_LEVEL). */
  private readonly slow = new Float64Array(3 * LEVELS);

  /** `slots` is rounded down to a power of two, so memory never exceeds what was configured. */
  constructor(slots: number) {
    this.capacity = 2 ** Math.floor(Math.log2(Math.max(16, slots)));
    [this.hashes, this.states, this.mask] = this.allocate(Math.min(this.capacity, INITIAL_SLOTS));
  }

  add(hash: number | undefined, version: Version, failed: boolean, level: number): void {
    const v = VERSION_INDEX[version];
    const to = Math.max(0, Math.min(LEVELS - 1, level - NO_LEVEL));
    if (hash === undefined) return this.count(v, 0, to, true, failed);
    if (hash >= this.limit) return;
    const fp = hash || 1;
    let i = fp & this.mask;
    let isNew = false;
    for (;;) {
      const at = this.hashes[i]!;
      if (at === fp) break;
      if (at === 0) {
        this.hashes[i] = fp;
        this.states[i] = 0;
        this.held++;
        isNew = true;
        break;
      }
      i = (i + 1) & this.mask;
    }
    const state = this.states[i]!;
    const from = state & LEVEL_MASK;
    const newlyFailed = failed && (state & FAILED) === 0;
    if (newlyFailed || to > from) this.states[i] = (state & FAILED) | (failed ? FAILED : 0) | Math.max(from, to);
    this.count(v, from, to, isNew, newlyFailed);
    if (this.held > MAX_LOAD * (this.mask + 1)) {
      if (this.mask + 1 < this.capacity) this.grow();
      else this.shrinkSample();
    }
  }

  /** Starts empty: a new release, or a rollback. */
  reset(): void {
    // New arrays rather than zeroed ones: zeroing would make every page of the old ones resident.
    [this.hashes, this.states, this.mask] = this.allocate(Math.min(this.capacity, INITIAL_SLOTS));
    this.held = 0;
    this.limit = 2 ** 32;
    this.epoch++;
    this.seen.fill(0);
    this.failed.fill(0);
    this.slow.fill(0);
  }

  stats(version: Version): KeyStats {
    const v = VERSION_INDEX[version];
    const slow: [number, number][] = [];
    for (let i = 0; i < LEVELS; i++) {
      const d = this.slow[v * LEVELS + i]!;
      if (d !== 0) slow.push([i + NO_LEVEL, d]);
    }
    return { seen: this.seen[v]!, failed: this.failed[v]!, slow };
  }

  tracking(): KeyTracking {
    return {
      epoch: this.epoch,
      id: this.id,
      tracked: this.held,
      sampling: this.limit / 2 ** 32,
      bytes: this.hashes.byteLength + this.states.byteLength + 8 * (this.seen.length * 2 + this.slow.length),
    };
  }

  /** The snapshot with this tracker's counts in it. */
  addTo(snapshot: StatsSnapshot): StatsSnapshot {
    for (const v of VERSIONS) snapshot.versions[v].keys = this.stats(v);
    snapshot.keyTracking = this.tracking();
    return snapshot;
  }

  private count(v: number, from: number, to: number, isNew: boolean, newlyFailed: boolean): void {
    if (isNew) this.seen[v]!++;
    if (newlyFailed) this.failed[v]!++;
    if (to > from) {
      this.slow[v * LEVELS + from]!++;
      this.slow[v * LEVELS + to]!--;
    }
  }

  private allocate(slots: number): [Uint32Array, Uint16Array, number] {
    return [new Uint32Array(slots), new Uint16Array(slots), slots - 1];
  }

  /** Doubles the table, so memory follows the users there are, up to the capacity. */
  private grow(): void {
    const [hashes, states] = [this.hashes, this.states];
    [this.hashes, this.states, this.mask] = this.allocate(2 * hashes.length);
    for (let i = 0; i < hashes.length; i++) {
      const fp = hashes[i]!;
      if (fp === 0) continue;
      let j = fp & this.mask;
      while (this.hashes[j] !== 0) j = (j + 1) & this.mask;
      this.hashes[j] = fp;
      this.states[j] = states[i]!;
    }
  }

  /**
   * Halves the sampled share of the hash space and drops the keys now outside it. Every slot
   * is then put back from its home, in probe order from an empty slot, so no lookup crosses a hole.
   */
  private shrinkSample(): void {
    while (this.held > MAX_LOAD * (this.mask + 1) && this.limit > 1) {
      this.limit /= 2;
      let start = 0;
      while (this.hashes[start] !== 0) start++;
      for (let n = 1; n <= this.mask + 1; n++) {
        const i = (start + n) & this.mask;
        const fp = this.hashes[i]!;
        if (fp === 0) continue;
        const state = this.states[i]!;
        this.hashes[i] = 0;
        this.held--;
        if (fp >= this.limit) continue;
        let j = fp & this.mask;
        while (this.hashes[j] !== 0) j = (j + 1) & this.mask;
        this.hashes[j] = fp;
        this.states[j] = state;
        this.held++;
      }
    }
  }
}

/** The data plane's side: hashes each request's key and passes it on. */
export class KeyRecorder {
  private readonly hash: (key: string) => number;

  constructor(
    service: string,
    private readonly sink: KeySink,
  ) {
    this.hash = keyHasher(service);
  }

  /** A request routed by the weights finished: `key` is its stickiness key, if it had one. */
  record(key: string | undefined, version: Version, status: number, seconds: number): void {
    this.sink.add(key === undefined ? undefined : this.hash(key), version, status >= 500, keyLevel(seconds));
  }
}
