/** What the simulator asks of a judge each simulated second. */
import type { ComparisonWindow } from '../judges/sequential/window.js';

export interface Runner {
  observe(second: number, window: ComparisonWindow): void;
  /** Failed rolls back; Inconclusive pauses the rollout; anything else carries on. */
  decision(): 'rollback' | 'pause' | 'continue';
  reason(): string;
}
