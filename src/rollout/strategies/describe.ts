/**
 * A plan step in words, as status messages, `kanari status` and the demo say it. It lives
 * with the plans rather than in the views because the machine writes it into the status
 * (`step 2/6: send 5% of users to the canary`), which the store keeps as history.
 */
import { formatDuration } from '../../config/duration.js';
import type { PlanStep } from './plan.js';

export function describeStep(step: PlanStep): string {
  if (step.label) return step.label;
  if (step.setWeight !== undefined) return `send ${step.setWeight}% of users to the canary`;
  if (step.pause)
    return step.pause.duration === undefined ? 'pause until promoted' : `wait ${formatDuration(step.pause.duration)}`;
  if (step.analysis) return `analysis (${step.analysis.templates.join(', ')})`;
  if (step.setHeaderRoute) {
    const m = step.setHeaderRoute.match;
    if (!m) return 'remove the header route';
    return `route ${m.header ? `header ${m.header}` : `cookie ${m.cookie}`} ${m.value !== undefined ? `= ${m.value}` : m.prefix !== undefined ? `starting ${m.prefix}` : `~ /${m.regex}/`} to the canary`;
  }
  if (step.setMirror)
    return step.setMirror.percent ? `mirror ${step.setMirror.percent}% of requests to the canary` : 'stop mirroring';
  return 'start a baseline copy of stable';
}
