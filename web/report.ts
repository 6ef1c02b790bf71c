/**
 * An analysis run's report in the spirit of Kayenta's canary report: one row per metric
 * with its verdict, the effect (canary against control), its interval and the evidence,
 * read from the judge's own details (sequential: ratio and e-value; Kayenta: the
 * Mann-Whitney interval and effect size), and the judge's summary line beside them.
 */
import { badge, h } from './dom.js';
import type { Report } from './types.js';

interface Figures {
  effect?: string;
  interval?: string;
  evidence?: string;
}

const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
const fmt = (x: number) => (Math.abs(x) >= 100 || x === 0 ? x.toFixed(0) : x.toPrecision(3));

/** What the report's table shows of a metric's details; blank where its judge has no such figure. */
export function figures(details: unknown): Figures {
  if (typeof details !== 'object' || details === null) return {};
  const d = details as Record<string, unknown>;
  const out: Figures = {};
  // Sequential: the first part's ratio of event rates (canary / control), and E against 1/α.
  const part = Array.isArray(d.parts) ? (d.parts[0] as Record<string, unknown> | undefined) : undefined;
  const ratio = part?.ratio as Record<string, unknown> | undefined;
  const estimate = num(ratio?.estimate);
  const [lower, upper] = [num(ratio?.lower), num(ratio?.upper)];
  if (estimate !== undefined) out.effect = `×${fmt(estimate)} (${String(part?.event)})`;
  if (lower !== undefined && upper !== undefined) out.interval = `[${fmt(lower)}, ${fmt(upper)}]`;
  const e = num(d.eValue);
  const alpha = num(d.alpha);
  if (e !== undefined && alpha !== undefined) out.evidence = `E = ${fmt(e)} of ${fmt(1 / alpha)}`;
  // Kayenta: the shift's confidence interval and effect size (mean ratio).
  const interval = d.interval as Record<string, unknown> | undefined;
  const [kl, ku] = [num(interval?.lower), num(interval?.upper)];
  if (kl !== undefined && ku !== undefined) out.interval = `[${fmt(kl)}, ${fmt(ku)}]`;
  const effect = num(d.effectSize) ?? num(d.deviation);
  if (estimate === undefined && effect !== undefined) out.effect = `×${fmt(effect)}`;
  return out;
}

export function reportTable(r: Report): HTMLElement {
  return h(
    'div',
    { class: 'report' },
    h(
      'p',
      {},
      badge(r.verdict),
      ` ${r.judge} judge, score ${r.score} of 100, ${r.measurements} measurements: ${r.reason}`,
    ),
    h(
      'table',
      {},
      h('caption', {}, `${r.template}: metrics`),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Metric', 'Verdict', 'Effect', 'Interval', 'Evidence', 'Summary'].map((c) => h('th', { scope: 'col' }, c)),
        ),
      ),
      h(
        'tbody',
        {},
        r.metrics.map((m) => {
          const f = figures(m.details);
          return h(
            'tr',
            {},
            h('th', { scope: 'row' }, m.name),
            h('td', {}, badge(m.verdict)),
            h('td', {}, f.effect ?? '–'),
            h('td', {}, f.interval ?? '–'),
            h('td', {}, f.evidence ?? '–'),
            h('td', { class: 'summary' }, m.summary),
          );
        }),
      ),
    ),
  );
}
