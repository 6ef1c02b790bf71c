/**
 * Read-modify-write with a `resourceVersion` precondition, retried from a fresh read on
 * 409. This is how kanari edits lists the API server treats as atomic (HTTPRoute `rules`,
 * VirtualService `http`): server-side apply would make kanari the owner of the whole list
 * and a later apply of the user's would wipe kanari's rules, or the reverse.
 */
import { describeRef, KubeConflict, KubeError, type KubeClient, type KubeObject, type ObjectRef } from './api.js';

/** Attempts before giving up on an object that keeps changing under us. */
const ATTEMPTS = 5;

/**
 * Reads `ref`, lets `edit` change a copy of it, and writes it back at the version read.
 * `edit` returns undefined to leave the object as it is (nothing is written). A conflict is
 * retried from a fresh read; anything else, and a fifth conflict, is thrown.
 */
export async function updateObject<T extends KubeObject>(
  client: KubeClient,
  ref: ObjectRef,
  edit: (current: T) => T | undefined,
  options: { status?: boolean } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const current = await client.get<T>(ref);
    if (!current) throw new KubeError(404, 'NotFound', `${describeRef(ref)} does not exist`);
    const next = edit(structuredClone(current));
    if (next === undefined) return current;
    try {
      return await client.replace(next, options);
    } catch (err) {
      if (!(err instanceof KubeConflict) || err.reason !== 'Conflict' || attempt >= ATTEMPTS) throw err;
    }
  }
}
