/**
 * Makes the instances in the status true: starts (or adopts) each one on the target that
 * runs its kind, resizes a pool during a rolling update, and stops the ones the status
 * stops once the data plane no longer sends them anything. What happened goes back to the
 * machine as `instanceReady`, `instanceFailed` and `instanceStopped`.
 */
import { countOf } from '../machine/capacity.js';
import type { DeploymentTarget, Readiness, TargetsFactory } from '../seams/targets.js';
import type { Instance } from '../types.js';
import type { EngineContext } from './context.js';
import { isNotActing } from '../../shared/not-acting.js';

/** A crashed instance is not restarted more often than this. */
const RESTART_BACKOFF = 2000;

export class InstanceReconciler {
  private readonly targets: readonly DeploymentTarget[];
  /** Which target runs each instance this engine started or adopted. */
  private readonly placed = new Map<string, DeploymentTarget>();
  private readonly removing = new Set<string>();
  private readonly resizing = new Set<string>();
  private readonly failedAt = new Map<string, number>();

  constructor(
    private readonly ctx: EngineContext,
    targets: TargetsFactory,
    /** An instance's addresses changed (a rolling wave, a restore), so traffic must be written again. */
    private readonly endpointsChanged: () => void,
    /** Asks for another reconciliation once a resize ends. */
    private readonly again: () => void,
  ) {
    this.targets = targets({
      exited: (id, reason) => {
        this.failedAt.set(id, ctx.clock.now());
        ctx.log(`${id} exited: ${reason}`);
        void ctx.send({ type: 'instanceFailed', id, reason });
      },
      save: (write) => void ctx.saving.write(write),
    });
  }

  readiness(id: string): Readiness {
    return this.placed.get(id)?.readiness(id) ?? { state: 'absent' };
  }

  isReady(id: string): boolean {
    return this.readiness(id).state === 'ready';
  }

  endpoints(id: string): string[] {
    const r = this.readiness(id);
    return r.state === 'ready' ? r.endpoints : [];
  }

  /** `drained`: the data plane has stopped using what goes, for long enough that shrinking and stopping are safe. */
  reconcile(drained: boolean): void {
    const s = this.ctx.status();
    for (const inst of s.instances) this.reconcileOne(inst, s.ready.includes(inst.id), drained);
    for (const id of s.stopping) {
      if (this.removing.has(id) || !drained) continue;
      this.removing.add(id);
      this.remove(id)
        .then(
          () => this.ctx.send({ type: 'instanceStopped', id }),
          (err: Error) => this.ctx.log(`stopping ${id}: ${err.message}`),
        )
        .finally(() => this.removing.delete(id));
    }
  }

  private reconcileOne(inst: Instance, ready: boolean, drained: boolean): void {
    const { ctx } = this;
    const target = this.placed.get(inst.id);
    const r = this.readiness(inst.id);
    if (target && r.state === 'ready') {
      const want = countOf(inst);
      if (target.resizes && r.size !== want) {
        // Growing can start now; shrinking waits until the router stopped using the processes that go.
        if (!this.resizing.has(inst.id) && (want > r.size || drained)) this.resize(target, inst.id, want);
        return;
      }
      if (!ready && !this.resizing.has(inst.id)) void ctx.send({ type: 'instanceReady', id: inst.id });
      return;
    }
    if (r.state === 'starting' || ctx.clock.now() - (this.failedAt.get(inst.id) ?? 0) < RESTART_BACKOFF) return;
    const chosen = this.targets.find((t) => t.accepts(inst.release.target));
    if (!chosen) {
      this.failedAt.set(inst.id, ctx.clock.now());
      void ctx.send({ type: 'instanceFailed', id: inst.id, reason: 'no deployment target runs this kind of target' });
      return;
    }
    this.placed.set(inst.id, chosen);
    chosen
      .ensure({ id: inst.id, version: inst.release.version, target: inst.release.target, size: countOf(inst) })
      .then(
        async () => {
          // An adopted group may be smaller than the one in the table (it lost an instance).
          this.endpointsChanged();
          await ctx.send({ type: 'instanceReady', id: inst.id });
        },
        async (err: Error) => {
          this.failedAt.set(inst.id, ctx.clock.now());
          // Not this version's failure: this process stopped acting (a lapsed lease), and whoever acts next starts it.
          if (isNotActing(err)) return ctx.log(`${inst.id} not started: ${err.message}`);
          ctx.log(`${inst.id} did not start: ${err.message}`);
          await ctx.send({ type: 'instanceFailed', id: inst.id, reason: err.message });
        },
      );
  }

  private resize(target: DeploymentTarget, id: string, count: number): void {
    this.resizing.add(id);
    this.ctx.log(`resizing ${id} to ${count} process${count === 1 ? '' : 'es'}`);
    target
      .resize(id, count)
      .then(
        async () => void (await this.ctx.send({ type: 'instanceReady', id })),
        async (err: Error) => {
          if (isNotActing(err)) return this.ctx.log(`${id} not resized to ${count}: ${err.message}`);
          await this.ctx.send({ type: 'instanceFailed', id, reason: `resizing to ${count}: ${err.message}` });
        },
      )
      .finally(() => {
        this.resizing.delete(id);
        this.endpointsChanged();
        this.again();
      });
  }

  /** One this engine runs goes through its target; one a previous controller left is asked of every target. */
  private async remove(id: string): Promise<void> {
    const target = this.placed.get(id);
    this.placed.delete(id);
    if (target) await target.remove(id);
    else await Promise.all(this.targets.map((t) => t.remove(id)));
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.stopAll()));
  }

  detach(): void {
    for (const t of this.targets) t.detach();
  }
}
