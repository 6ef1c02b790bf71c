/**
 * Every strategy becomes one plan: the list of steps the state machine walks, which
 * background analysis runs over which steps, and how long the old version outlives the
 * switch. Canary steps are the plan as written; blueGreen and rolling are written as
 * steps here, so the machine (and its property test) has one lifecycle to get right.
 */
import type { RolloutSpec } from '../../config/schemas/rollout.js';
import { blueGreenSteps } from './blue-green.js';
import type { Plan, PlanStep } from './plan.js';
import { rollingSteps } from './rolling.js';

export type { Plan, PlanStep };

const plans = new WeakMap<RolloutSpec, Map<string, Plan>>();

/**
 * The plan for `spec`. A rolling update's waves depend on the pools as they were when it
 * was deployed (`pools`, kept in the status): the running stable and a `--set` instance
 * count may differ from the file.
 */
export function planOf(spec: RolloutSpec, pools?: { from: number; to: number }): Plan {
  let bySize = plans.get(spec);
  if (!bySize) plans.set(spec, (bySize = new Map()));
  const key = spec.strategy.rolling && pools ? `${pools.from}/${pools.to}` : '';
  let plan = bySize.get(key);
  if (!plan) {
    plan = compile(spec, pools);
    bySize.set(key, plan);
  }
  return plan;
}

function compile(spec: RolloutSpec, pools: { from: number; to: number } | undefined): Plan {
  const { canary, blueGreen, rolling } = spec.strategy;
  if (blueGreen) return blueGreenSteps(blueGreen, canary);
  if (rolling) return rollingSteps(rolling, pools?.from ?? spec.stable.size, pools?.to ?? spec.canary.size);
  const plan = canary!;
  return {
    kind: 'canary',
    steps: plan.steps,
    ...(plan.analysis
      ? {
          background: {
            templates: plan.analysis.templates,
            from: plan.analysis.startingStep,
            until: plan.steps.length,
          },
        }
      : {}),
    scaleDownDelay: 0,
    promotionAt: plan.steps.length,
  };
}
