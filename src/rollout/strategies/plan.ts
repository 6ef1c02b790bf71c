/** What every strategy compiles to: one list of steps the state machine walks. */
import type { RolloutStep } from '../../config/schemas/rollout.js';

export type PlanStep = RolloutStep & {
  /** Rolling: run this many new instances, then (traffic first) shrink the old ones to `stable`. */
  scale?: { canary: number; stable: number };
  /** What the step is for, when a strategy wrote it; shown instead of the bare step. */
  label?: string;
};

export interface Plan {
  kind: 'canary' | 'blueGreen' | 'blueGreen+canary' | 'rolling';
  steps: PlanStep[];
  /** Background analysis, running from step `from` until step `until` is entered (or promotion). */
  background?: { templates: string[]; from: number; until: number };
  /** How long the old version keeps running after every user was switched away from it. */
  scaleDownDelay: number;
  /**
   * The step `confirm-promotion` guards: blueGreen's switch (the promotion as users see
   * it), or `steps.length`, the promotion itself.
   */
  promotionAt: number;
}
