/** The longest a timer may wait (2^31 - 1 ms, about 24.8 days); a later end is waited for in turns. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * What to call when something a connection stands on ends (a token, a session), by its
 * key: each watcher once, when the thing is ended by hand or its time is up. A connection
 * that outlives its request (the event stream) must not outlive what let it in.
 */
export class EndWatchers {
  private readonly watchers = new Map<string, Set<() => void>>();

  constructor(private readonly now: () => number) {}

  /** Calls `end` once `key` is ended or `expiresAt` passes; returns what stops watching, for when the connection ends first. */
  watch(key: string, expiresAt: number | undefined, end: () => void): () => void {
    let timer: NodeJS.Timeout | undefined;
    const stop = () => {
      clearTimeout(timer);
      const set = this.watchers.get(key);
      set?.delete(once);
      if (set?.size === 0) this.watchers.delete(key);
    };
    const once = () => {
      stop();
      end();
    };
    const arm = () => {
      const left = expiresAt! - this.now();
      if (left <= 0) return once();
      timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      timer.unref();
    };
    if (!this.watchers.has(key)) this.watchers.set(key, new Set());
    this.watchers.get(key)!.add(once);
    if (expiresAt !== undefined) arm();
    return stop;
  }

  /** Calls every watcher of `key`. */
  end(key: string): void {
    for (const once of [...(this.watchers.get(key) ?? [])]) once();
  }
}
