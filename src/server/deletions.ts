/**
 * Deleting a standalone rollout: its instances stop, its service leaves the router, its rows
 * go (the event log stays, ended by `deleted`). A mark saved before the teardown lets the
 * next controller finish a delete this one could not, and refuses anything else meanwhile.
 * Apart from the controller because a delete is a little lifecycle of its own — refused,
 * forced, under way, half done, finished — that the controller's other commands only ask
 * about.
 */
import type { RolloutEngine } from '../rollout/engine.js';
import type { RolloutStatus } from '../rollout/types.js';
import { describeSystemError } from '../shared/system.js';
import type { Store } from '../store/sqlite.js';
import type { RouterService } from '../traffic/router-service.js';
import { ControllerError } from './controller-error.js';

/** How long `delete --force` waits for users to be back on stable before it gives up (the abort stands). */
const FORCED_DELETE_WAIT_MS = 60_000;

/** A rollout the controller runs, as far as deleting it goes. */
export interface Deletable {
  engine: RolloutEngine;
  router: RouterService;
}

export interface DeletionsOptions {
  store: Store;
  /** The rollout of this name; throws the controller's 404 for one it does not hold. */
  get: (name: string) => Deletable;
  /** Called once a rollout's rows are gone, so the controller forgets it. */
  deleted: (name: string) => void;
  log: (line: string) => void;
}

export class Deletions {
  /** Rollouts whose delete is under way: one delete at a time each. */
  private readonly deleting = new Set<string>();

  constructor(private readonly options: DeletionsOptions) {}

  /** Whether this controller is deleting `name` now (a forced delete waiting for the rollback included). */
  has(name: string): boolean {
    return this.deleting.has(name);
  }

  /** Whether a delete of `name` was begun, by this controller or an earlier one, and not finished. */
  begun(name: string): boolean {
    return Boolean(this.options.store.record(name, 'deleting'));
  }

  /** A delete that failed midway left its mark (and a closed engine): only another delete may touch the rollout. */
  refuseHalfDeleted(name: string): void {
    if (this.begun(name))
      throw new ControllerError(
        409,
        `rollout ${name} is being deleted: a delete stopped midway; kanari delete ${name} finishes it`,
      );
  }

  /**
   * Deletes a rollout. One in flight is refused unless `force`, which aborts it and deletes
   * it only once users are back on stable and the canary has stopped.
   */
  async remove(
    name: string,
    options: { force?: boolean } = {},
    actor?: string,
  ): Promise<{ name: string; deleted: true }> {
    const m = this.options.get(name);
    if (this.deleting.has(name)) throw new ControllerError(409, `rollout ${name} is being deleted`);
    if (!ended(m.engine.status)) {
      const s = m.engine.status;
      if (!options.force)
        throw new ControllerError(
          409,
          `rollout ${name} is in phase ${s.phase} (${s.canary?.version ?? 'a canary'} has ${s.traffic.weights.canary}% of users); abort it and delete it once it has rolled back, or delete --force does both`,
        );
      this.deleting.add(name);
      try {
        // Refused once a promotion has switched stable: then the promotion's end is waited for instead.
        await m.engine.send({
          type: 'abort',
          reason: 'the rollout is being deleted (delete --force)',
          ...(actor === undefined ? {} : { actor }),
        });
        if (!(await waitFor(() => ended(m.engine.status), FORCED_DELETE_WAIT_MS)))
          throw new ControllerError(
            409,
            `rollout ${name}: users are not back on ${m.engine.status.stable.version} after ${FORCED_DELETE_WAIT_MS / 1000} s (${m.engine.status.message}); nothing was deleted, delete it again once it has rolled back`,
          );
      } finally {
        this.deleting.delete(name);
      }
    }
    // Who asked is kept with the mark, so the deleted event names them even if another controller finishes it.
    this.options.store.setRecord(name, 'deleting', { at: Date.now(), ...(actor === undefined ? {} : { actor }) });
    await this.finish(name);
    return { name, deleted: true };
  }

  /** Tears a marked rollout down; on failure the mark stays, for the next delete or controller. */
  async finish(name: string): Promise<void> {
    const { store, log } = this.options;
    const m = this.options.get(name);
    this.deleting.add(name);
    try {
      await m.engine.close({ stopInstances: true, stopReason: `rollout ${name} was deleted` });
      await m.router.stop();
      const actor = store.record<{ actor?: string }>(name, 'deleting')?.actor;
      store.deleteRollout(name, m.engine.status.revision, Date.now(), actor);
      this.options.deleted(name);
      log(`${name}: deleted`);
    } catch (err) {
      // The mark stays: the next controller finishes the delete.
      log(`${name}: cannot finish deleting it now: ${describeSystemError(err)}`);
      throw err;
    } finally {
      this.deleting.delete(name);
    }
  }
}

/** A rollout that runs only its stable version (an Aborted one has moved users back before stopping the canary). */
function ended(s: RolloutStatus): boolean {
  return (
    (s.phase === 'StableOnly' || s.phase === 'Aborted') &&
    s.stopping.length === 0 &&
    s.instances.every((i) => i.id === s.stable.version)
  );
}

async function waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
  for (const until = Date.now() + timeoutMs; Date.now() < until; await new Promise((r) => setTimeout(r, 100)))
    if (done()) return true;
  return done();
}
