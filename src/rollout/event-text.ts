/**
 * One row of a rollout's event log in words: what `kanari history` prints, and what the
 * operator writes as a Kubernetes Event on the Rollout (`kubectl describe` shows them).
 */

/** The part of an event row the words come from. */
export interface EventFacts {
  type: string;
  data: Record<string, unknown>;
}

/** One event log row in a line. */
export function describeEvent(e: EventFacts): string {
  const d = e.data;
  switch (e.type) {
    case 'deploy':
      return `deploy ${(d.release as { version: string }).version}`;
    case 'status':
      return `${String(d.phase).padEnd(15)} step ${Number(d.step) + 1}  canary ${(d.weights as { canary: number }).canary}%  ${String(d.message)}`;
    case 'result':
      return `${String(d.outcome)} ${String(d.version)} after ${Math.round(Number(d.seconds))} s: ${String(d.reason)}`;
    case 'instanceFailed':
      return `${String(d.id)} failed: ${String(d.reason)}`;
    case 'notificationFailed':
      return `notification to ${String(d.url)} failed: ${String(d.reason)}`;
    case 'promote':
      return d.full ? 'promote --full' : 'promote';
    case 'abort':
      return d.reason ? `abort: ${String(d.reason)}` : 'abort';
    case 'analysisVerdict':
      return `analysis ${String(d.id)} ${String(d.verdict)}: ${String(d.reason)}`;
    case 'analysisStopped':
      return `analysis ${String(d.id)} Stopped: ${String(d.reason)}`;
    default:
      return e.type;
  }
}

const DESCRIBED = [
  'deploy',
  'status',
  'result',
  'instanceFailed',
  'notificationFailed',
  'promote',
  'abort',
  'analysisVerdict',
  'analysisStopped',
];

/** What a failure looks like: these rows are Warnings, the rest Normal. */
function isWarning(e: EventFacts): boolean {
  const d = e.data;
  if (e.type === 'instanceFailed' || e.type === 'notificationFailed' || e.type === 'abort') return true;
  if (e.type === 'result') return d.outcome !== 'Promoted';
  if (e.type === 'analysisVerdict') return d.verdict === 'Failed' || d.verdict === 'Error';
  return false;
}

/**
 * The Kubernetes Event for a row: its reason in UpperCamelCase as Kubernetes' own are (a
 * status row by the phase it entered, a result by its outcome), its message the line
 * `kanari history` prints, and Warning for what went wrong.
 */
export function eventNote(e: EventFacts): { type: 'Normal' | 'Warning'; reason: string; message: string } | undefined {
  // The engine's own bookkeeping (announcements, instances ready) is not news to a person.
  if (!DESCRIBED.includes(e.type)) return undefined;
  const d = e.data;
  const named = e.type === 'status' ? d.phase : e.type === 'result' ? d.outcome : e.type;
  const reason = String(named).replace(/^[a-z]/, (c) => c.toUpperCase());
  const message =
    e.type === 'status'
      ? `step ${Number(d.step) + 1}, canary ${(d.weights as { canary: number }).canary}%: ${String(d.message)}`
      : describeEvent(e);
  return { type: isWarning(e) ? 'Warning' : 'Normal', reason, message };
}
