/** What the engine's parts share: the rollout's name, its time, its status now, and how to speak to the machine. */
import type { Clock } from '../seams/clock.js';
import type { Saving } from '../saving.js';
import type { RolloutStatus, Transition, UntimedEvent } from '../types.js';

export interface EngineContext {
  readonly name: string;
  readonly clock: Clock;
  /** The journal every store write goes through. */
  readonly saving: Saving;
  status(): RolloutStatus;
  /** Feeds an event to the machine; events are applied one at a time, in order. */
  send(e: UntimedEvent): Promise<Transition>;
  log(line: string): void;
}
