/**
 * blueGreen as steps: open the preview route, run any canary steps, judge before the
 * switch, wait (autoPromotionDelay, or for a person), send every user to the new version,
 * judge again while the old one still runs, and only then promote.
 */
import type { BlueGreenStrategy, CanaryStrategy } from '../../config/schemas/rollout.js';
import { formatDuration } from '../../config/duration.js';
import type { Plan, PlanStep } from './plan.js';

export function blueGreenSteps(bg: BlueGreenStrategy, canary: CanaryStrategy | undefined): Plan {
  const steps: PlanStep[] = [];
  if (bg.previewRoute) steps.push({ setHeaderRoute: { match: bg.previewRoute }, label: 'open the preview route' });
  const canaryFrom = steps.length;
  steps.push(...(canary?.steps ?? []));
  if (bg.prePromotionAnalysis)
    steps.push({
      analysis: bg.prePromotionAnalysis,
      label: `pre-promotion analysis (${bg.prePromotionAnalysis.templates.join(', ')})`,
    });
  if (!bg.autoPromotion) steps.push({ pause: {}, label: 'wait for `kanari promote` to switch' });
  else if (bg.autoPromotionDelay)
    steps.push({
      pause: { duration: bg.autoPromotionDelay },
      label: `wait ${formatDuration(bg.autoPromotionDelay)} before switching (autoPromotionDelay)`,
    });
  const switchAt = steps.length;
  steps.push({ setWeight: 100, label: 'switch every user to the new version' });
  if (bg.postPromotionAnalysis)
    steps.push({
      analysis: bg.postPromotionAnalysis,
      label: `post-promotion analysis (${bg.postPromotionAnalysis.templates.join(', ')}); a failure switches back`,
    });
  const background = canary?.analysis;
  return {
    kind: canary ? 'blueGreen+canary' : 'blueGreen',
    steps,
    // A comparison needs users on both versions, so background analysis ends at the switch.
    ...(background
      ? { background: { templates: background.templates, from: canaryFrom + background.startingStep, until: switchAt } }
      : {}),
    scaleDownDelay: bg.scaleDownDelay,
    promotionAt: switchAt,
  };
}
