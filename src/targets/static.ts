/**
 * The static target: upstreams that already run somewhere and are only named. Starting one
 * is knowing its addresses; removing one is forgetting them; it has one size.
 */
import type { TargetSpec } from '../config/schemas/rollout.js';
import type { DeploymentTarget, InstanceRequest, Readiness } from '../rollout/seams/targets.js';

export class StaticTarget implements DeploymentTarget {
  readonly kind = 'static';
  readonly resizes = false;
  private readonly running = new Map<string, string[]>();

  accepts(target: TargetSpec): boolean {
    return target.upstreams !== undefined;
  }

  readiness(id: string): Readiness {
    const endpoints = this.running.get(id);
    return endpoints ? { state: 'ready', endpoints, size: 1 } : { state: 'absent' };
  }

  ensure(instance: InstanceRequest): Promise<void> {
    this.running.set(instance.id, [...instance.target.upstreams!]);
    return Promise.resolve();
  }

  resize(id: string): Promise<void> {
    return Promise.reject(new Error(`instance ${id} is a list of upstreams: kanari cannot resize it`));
  }

  remove(id: string): Promise<void> {
    this.running.delete(id);
    return Promise.resolve();
  }

  stopAll(): Promise<void> {
    this.running.clear();
    return Promise.resolve();
  }

  detach(): void {
    this.running.clear();
  }
}
