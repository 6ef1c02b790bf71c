/**
 * One row of a rollout's event log in words: what `kanari history` prints, and what the
 * operator writes as a Kubernetes Event on the Rollout (`kubectl describe` shows them).
 */

/** The part of an event row the words come from. */
export interface EventFacts {
  type: string;
  data: Record<string, unknown>;
}

type Data = Record<string, unknown>;

/** The rows a person reads, each in words; the rest are the engine's bookkeeping (ticks, announcements, instances ready). */
const DESCRIBED: Record<string, (d: Data) => string> = {
  apply: (d) => `apply (${String(d.change)})`,
  deploy: (d) => `deploy ${(d.release as { version: string }).version}`,
  status: (d) =>
    `${String(d.phase).padEnd(15)} step ${Number(d.step) + 1}  canary ${(d.weights as { canary: number }).canary}%  ${String(d.message)}`,
  result: (d) =>
    `${String(d.outcome)} ${String(d.version)} after ${Math.round(Number(d.seconds))} s: ${String(d.reason)}`,
  instanceFailed: (d) => `${String(d.id)} failed: ${String(d.reason)}`,
  notificationFailed: (d) => `notification to ${String(d.url)} failed: ${String(d.reason)}`,
  promote: (d) => (d.full ? 'promote --full' : 'promote'),
  abort: (d) => (d.reason ? `abort: ${String(d.reason)}` : 'abort'),
  setWeight: (d) => `set-weight ${Number(d.weight)}%${d.reason ? `: ${String(d.reason)}` : ''}`,
  analysisVerdict: (d) => `analysis ${String(d.id)} ${String(d.verdict)}: ${String(d.reason)}`,
  analysisStopped: (d) => `analysis ${String(d.id)} Stopped: ${String(d.reason)}`,
};

/** One event log row in a line (a row of another type, by its type). */
export function describeEvent(e: EventFacts): string {
  const text = Object.hasOwn(DESCRIBED, e.type) ? DESCRIBED[e.type]!(e.data) : e.type;
  return typeof e.data.actor === 'string' ? `${text}  (by ${e.data.actor})` : text;
}

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
  if (!Object.hasOwn(DESCRIBED, e.type)) return undefined;
  const d = e.data;
  const named = e.type === 'status' ? d.phase : e.type === 'result' ? d.outcome : e.type;
  const reason = String(named).replace(/^[a-z]/, (c) => c.toUpperCase());
  const message =
    e.type === 'status'
      ? `step ${Number(d.step) + 1}, canary ${(d.weights as { canary: number }).canary}%: ${String(d.message)}`
      : describeEvent(e);
  return { type: isWarning(e) ? 'Warning' : 'Normal', reason, message };
}
