/**
 * Who wrote an object the leader keeps on Kubernetes (a Rollout's status, its log's
 * ConfigMap), and whether a replica that finds another's stamp after a conflict may go on.
 *
 * Every write stamps `{identity, term, seq}`: the replica, the lease term it leads in (the
 * Lease's `leaseTransitions` when it took the lease, which leader election raises at every
 * change of holder), and its count of writes. The old leader's last write can land after
 * the new leader read the object (its request was in flight when the lease passed): that is
 * an earlier term's, and the new leader continues after it. A stamp of the same term by
 * another replica, or of a later term, is another leader's: the replica stops writing.
 */

export interface WriterStamp {
  identity: string;
  /** The lease term of the replica that wrote it; absent in what kanari wrote before terms. */
  term?: number;
  seq: number;
}

/**
 * `found` (the stamp on the object now) as `me` sees it, having found `takenOver` when it
 * took the object on: `ours` (this replica's, or no stamp), `earlier` (a leadership before
 * this one: written over or continued after) or `rival` (another leader: stop).
 *
 * Where either side has no term (kanari before terms, upgraded mid-rollout; a store opened
 * without one), only the writer of `takenOver`, in its term, is earlier: its late writes are
 * the only ones that can land on what the new leader read, since each write carries the
 * resourceVersion its writer last saw.
 */
export function judgeStamp(
  found: WriterStamp | undefined,
  me: { identity: string; term?: number },
  takenOver: WriterStamp | undefined,
): 'ours' | 'earlier' | 'rival' {
  if (!found || found.identity === me.identity) return 'ours';
  if (found.term !== undefined && me.term !== undefined) return found.term < me.term ? 'earlier' : 'rival';
  return takenOver && found.identity === takenOver.identity && found.term === takenOver.term ? 'earlier' : 'rival';
}

/** Whether two stamps are the same write. */
export function sameStamp(a: WriterStamp | undefined, b: WriterStamp | undefined): boolean {
  return a?.identity === b?.identity && a?.term === b?.term && a?.seq === b?.seq;
}

/** A stamp as read back from an object anyone with the right may edit: undefined unless well formed. */
export function readStamp(value: unknown): WriterStamp | undefined {
  const v = value as Partial<Record<keyof WriterStamp, unknown>> | null | undefined;
  if (!v || typeof v !== 'object' || typeof v.identity !== 'string' || !count(v.seq)) return undefined;
  if (v.term !== undefined && !count(v.term)) return undefined;
  return { identity: v.identity, ...(v.term !== undefined ? { term: v.term as number } : {}), seq: v.seq as number };
}

const count = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** The stamp of a replica's next write. */
export function stamp(identity: string, term: number | undefined, seq: number): WriterStamp {
  return { identity, ...(term !== undefined ? { term } : {}), seq };
}

/**
 * A store's last writes as its runner closes it: flushes until nothing is left to write, a
 * write fails (one last attempt, not a retry loop), or `ms` pass. A change that came while
 * the write before was on its way (even in the same turn as it landed) gets a write of its
 * own; the caller marks itself closed as this returns, with nothing left between.
 */
export async function lastWrites(
  store: { flush(): Promise<void>; pending(): boolean; failing(): boolean },
  ms: number,
): Promise<void> {
  const deadline = Date.now() + ms;
  let timer: NodeJS.Timeout | undefined;
  const out = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  try {
    while (store.pending() && Date.now() < deadline) {
      let failed = false;
      await Promise.race([
        store.flush().then(() => (failed = store.pending() && store.failing())),
        out.then(() => (failed = true)),
      ]);
      if (failed) return;
    }
  } finally {
    clearTimeout(timer);
  }
}
