/**
 * A rollout's history read as a person reads it: each row in words, and the releases in it
 * (each deploy with its outcome, how long it took and who acted). Pure, so the tests run it
 * in Node (test/web/report-figures.test.ts).
 */
import type { EventRow } from './types.js';

export interface Release {
  rollout: string;
  version: string;
  startedAt: number;
  outcome?: string;
  seconds?: number;
  actors: Set<string>;
}

/** One history row in words, as `kanari history` prints it. */
export function eventLine(e: EventRow): string {
  const d = e.data;
  switch (e.type) {
    case 'deploy':
      return `deploy ${String((d.release as { version?: string } | undefined)?.version)}`;
    case 'status':
      return `${String(d.phase)}, step ${Number(d.step) + 1}, canary ${(d.weights as { canary?: number } | undefined)?.canary}%: ${String(d.message)}`;
    case 'result':
      return `${String(d.outcome)} ${String(d.version)} after ${Math.round(Number(d.seconds))} s: ${String(d.reason)}`;
    case 'setWeight':
      return `set weight ${Number(d.weight)}%${d.reason ? `: ${String(d.reason)}` : ''}`;
    case 'analysisVerdict':
      return `analysis ${String(d.id)} ${String(d.verdict)}: ${String(d.reason)}`;
    case 'analysisStopped':
      return `analysis ${String(d.id)} stopped: ${String(d.reason)}`;
    case 'apply':
      return `apply (${String(d.change)})`;
    default:
      return d.reason ? `${e.type}: ${String(d.reason)}` : e.type;
  }
}

/** The releases in one rollout's history, newest first. */
export function releases(rollout: string, events: EventRow[]): Release[] {
  const out: Release[] = [];
  for (const e of events) {
    const actor = typeof e.data.actor === 'string' ? e.data.actor : undefined;
    if (e.type === 'deploy') {
      const version = (e.data.release as { version?: string } | undefined)?.version ?? '?';
      out.push({ rollout, version, startedAt: e.at, actors: new Set(actor ? [actor] : []) });
      continue;
    }
    const current = out.at(-1);
    if (!current || current.outcome !== undefined) continue;
    if (actor) current.actors.add(actor);
    if (e.type === 'result') {
      current.outcome = String(e.data.outcome);
      current.seconds = Number(e.data.seconds);
    }
  }
  return out.reverse();
}
