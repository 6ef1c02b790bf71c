/**
 * Every strategy becomes one plan: the list of steps the state machine walks, which
 * background analysis runs over which steps, and how long the old version outlives the
 * switch. Canary steps are the plan as written; blueGreen and rolling are written as
 * steps here, so the machine (and its property test) has one lifecycle to get right.
 */
import type { RolloutSpec, RolloutStep } from '../../config/schemas/rollout.js';
import { blueGreenSteps } from './blue-green.js';
import { rollingSteps } from './rolling.js';

export type PlanStep = RolloutStep & {
  /** Rolling: run this many new instances, then (traffic first) shrink the old ones to `stable`. */
  scale?: { canary: number; stable: number };
  /** What the step is for, when a strategy wrote it; shown instead of the bare step. */
  label?: string;
  /** blueGreen's switch: the promotion as users see it, so confirm-promotion is asked here. */
  switch?: boolean;
};

export interface Plan {
  kind: 'canary' | 'blueGreen' | 'blueGreen+canary' | 'rolling';
  steps: PlanStep[];
  /** Background analysis, running from step `from` until step `until` is entered (or promotion). */
  background?: { templates: string[]; from: number; until: number };
  /** How long the old version keeps running after every user was switched away from it. */
  scaleDownDelay: number;
}

const plans = new WeakMap<RolloutSpec, Plan>();

export function planOf(spec: RolloutSpec): Plan {
  let plan = plans.get(spec);
  if (!plan) {
    plan = compile(spec);
    plans.set(spec, plan);
  }
  return plan;
}

function compile(spec: RolloutSpec): Plan {
  const { canary, blueGreen, rolling } = spec.strategy;
  if (blueGreen) return blueGreenSteps(blueGreen, canary);
  if (rolling) return rollingSteps(rolling, spec.stable.process?.instances ?? 1, spec.canary.process?.instances ?? 1);
  const plan = canary!;
  return {
    kind: 'canary',
    steps: plan.steps,
    ...(plan.analysis ? { background: { templates: plan.analysis.templates, from: plan.analysis.startingStep, until: plan.steps.length } } : {}),
    scaleDownDelay: 0,
  };
}
