/** How `kanari status` draws a rollout: a weight bar, the plan with the current step marked, verdicts, time left. */
import type { RolloutView } from '../server/view.js';

const MARK = { done: '✓', current: '▶', next: ' ' } as const;

export function renderRollout(v: RolloutView, now = Date.now()): string {
  const lines: string[] = [];
  const versions = v.canary ? `${v.stable} → ${v.canary}` : v.stable;
  lines.push(`${v.name}  ${v.phase}  ${versions}  (revision ${v.revision}, users on ${v.listen})`);
  const w = v.weights;
  const bar = '█'.repeat(Math.round(w.canary / 5)).padEnd(20, '░');
  lines.push(
    `  weight    ${bar} ${fmt(w.canary)}% ${v.canary ?? 'canary'}  · ${fmt(w.stable)}% ${v.stable}${w.baseline > 0 ? `  · ${fmt(w.baseline)}% baseline` : ''}`,
  );
  lines.push('  steps');
  for (const s of v.steps) {
    const left =
      s.state === 'current' && v.pauseLeft !== undefined
        ? `   (${clock(v.pauseLeft)} left${v.paused ? ', on hold' : ''})`
        : '';
    lines.push(`    ${MARK[s.state]} ${String(s.index + 1).padStart(2)}. ${s.text}${left}`);
  }
  if (v.analyses.length > 0) {
    lines.push('  analyses');
    for (const a of v.analyses) {
      const where = a.scope === 'background' ? 'background' : `step ${a.step + 1}`;
      const score = a.score === undefined ? '' : `  score ${Math.round(a.score)}`;
      const reason = a.reason && a.verdict !== 'Running' ? ` — ${a.reason}` : '';
      lines.push(`    ${a.template} (${where})  ${a.verdict}${score}${reason}`);
    }
  }
  if (v.router && !v.router.serving)
    lines.push(`  router    NOT SERVING for ${clock(now - (v.router.since ?? now))}: ${v.router.reason}`);
  else if (v.router?.warning) lines.push(`  router    ${v.router.warning}`);
  if (v.store) lines.push(`  store     ${v.store.error}`);
  if (v.paused) lines.push(`  paused    ${v.paused.message}`);
  if (v.result)
    lines.push(`  last      ${v.result.outcome} ${v.result.version} ${ago(now - v.result.at)}: ${v.result.reason}`);
  lines.push(`  now       ${v.message}`);
  return lines.join('\n');
}

function fmt(x: number): string {
  return String(Math.round(x * 100) / 100);
}

/** 3m05s, 45s. */
function clock(ms: number): string {
  const s = Math.ceil(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

function ago(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return 'just now';
  if (s < 3600) return `${clock(ms)} ago`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m ago`;
}
