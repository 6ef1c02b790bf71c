/**
 * An analysis run's report in the spirit of Kayenta's canary report: one row per metric
 * with its verdict, the effect (canary against control), its interval and the evidence,
 * read from the judge's own details (sequential: ratio and e-value; Kayenta: the
 * Mann-Whitney interval and effect size), and the judge's summary line beside them.
 */
import { badge, h } from './dom.js';
import { figures } from './report-figures.js';
import type { Report } from './types.js';

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
