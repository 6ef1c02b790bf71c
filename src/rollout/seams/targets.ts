/**
 * The `DeploymentTarget` seam, owned by the engine that uses it: where a rollout's
 * instances run. One implementation per kind of place (src/targets/<kind>.ts); an
 * instance is known by its id (a version, or `<stable>-baseline`).
 */
import type { TargetSpec } from '../../config/schemas/rollout.js';

/** What the engine asks a target to run: `size` copies of a release's target. */
export interface InstanceRequest {
  id: string;
  version: string;
  target: TargetSpec;
  size: number;
}

/** Whether an instance runs and where; `size` is how many copies serve now. */
export type Readiness =
  { state: 'absent' } | { state: 'starting' } | { state: 'ready'; endpoints: string[]; size: number };

export interface DeploymentTarget {
  readonly kind: string;
  /** Whether a running instance can grow or shrink in place (a rolling update needs it). */
  readonly resizes: boolean;
  /** Whether this target runs `target` (each target spec names exactly one kind). */
  accepts(target: TargetSpec): boolean;
  /** Starts (or adopts) the instance; resolves once it is ready, rejects with the reason it is not. */
  ensure(instance: InstanceRequest): Promise<void>;
  readiness(id: string): Readiness;
  /** Grows or shrinks a running instance to `size` copies; only when `resizes`. */
  resize(id: string, size: number): Promise<void>;
  /** Stops the instance: one this target runs, or one a previous controller left behind. */
  remove(id: string): Promise<void>;
  /** Stops every instance (the demo and tests). */
  stopAll(): Promise<void>;
  /** Forgets the instances without stopping them, for the next controller to adopt. */
  detach(): void;
}

/** What a target tells the engine on its own, and how it writes its records through the engine's journal. */
export interface TargetEvents {
  /** An instance that was running has exited. */
  exited(id: string, reason: string): void;
  /** Runs a store write as the engine does its own, so a store that refuses writes is reported once. */
  save(write: () => void): void;
}

/** Builds a rollout's targets, given where to report exits (the engine exists only after its seams). */
export type TargetsFactory = (events: TargetEvents) => readonly DeploymentTarget[];
