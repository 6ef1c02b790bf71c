/**
 * An error that means this process has stopped acting, not that what it acted on failed:
 * an operator replica whose leader lease lapsed (`NotLeader`, src/kube/lease.ts) has its
 * writes refused, and a refused write says nothing about the version, the router or the
 * analysis it was for. The engine and the stores recognise it, wrapped or not, and never
 * turn it into a failure, a verdict or a status: the next leader resumes from what was
 * written before.
 */
export interface NotActing {
  readonly notActing: true;
}

/** Whether `err`, or an error it was caused by, says this process is not acting. */
export function isNotActing(err: unknown): boolean {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 8; depth++) {
    if ((e as Partial<NotActing>).notActing === true) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
