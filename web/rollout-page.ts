/**
 * One rollout: where it is in its lifecycle, its weights (live), its steps, its charts, its
 * analyses with their reports, the controls, and its history with who acted. Kept live from
 * the event stream of this one rollout, without reloading the page (or read again every 5 s
 * where the API has no stream). What an API does not serve (the operator's: analysis
 * reports) is said calmly as not kept, never as an error.
 */
import type uPlot from './vendor/uPlot.esm.js';
import { actions } from './actions.js';
import { api, ApiError, rolloutPath, rolloutRef } from './api.js';
import { drawCharts } from './charts.js';
import { badge, clock, duration, h, widthOf } from './dom.js';
import { eventLine } from './releases.js';
import { watch } from './live.js';
import { reportTable } from './report.js';
import { rolloutRoute, serves } from './served.js';
import { PHASES, type EventRow, type Report, type Rollout, type Series, type Who } from './types.js';

// The lifecycle in order, and beside it the phases the machine reaches from any step.
const LIFECYCLE = PHASES.slice(0, 6);
const ASIDE = ['Rollback', 'Paused', 'Aborted', 'Degraded'] as const;
const RANGES: [string, number][] = [
  ['the last 15 minutes', 15 * 60_000],
  ['the last hour', 3_600_000],
  ['the last 6 hours', 6 * 3_600_000],
  ['the last day', 86_400_000],
  ['the last 7 days', 7 * 86_400_000],
];
/** Charts are read again at most this often while events come (every measurement is one). */
const SERIES_EVERY_MS = 5000;

export function rolloutPage(root: HTMLElement, name: string, who: Who): () => void {
  const top = h('div', { class: 'rollout-top' });
  const range = h(
    'select',
    { id: 'range' },
    h('option', { value: 'release', selected: true }, 'this release'),
    RANGES.map(([label, ms]) => h('option', { value: ms }, label)),
  );
  const charts = h('div', { class: 'charts' });
  const analyses = h('section', { class: 'analyses', 'aria-labelledby': 'analyses-title' });
  const historyBody = h('tbody');
  root.replaceChildren(
    top,
    h(
      'section',
      { 'aria-labelledby': 'charts-title' },
      h(
        'div',
        { class: 'section-head' },
        h('h2', { id: 'charts-title' }, 'Traffic, errors, latency and evidence'),
        h('label', { for: 'range' }, 'Over'),
        range,
      ),
      charts,
    ),
    analyses,
    h(
      'section',
      { 'aria-labelledby': 'history-title' },
      h('h2', { id: 'history-title' }, 'History'),
      h(
        'table',
        { class: 'history' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['When', 'What', 'By'].map((c) => h('th', { scope: 'col' }, c)),
          ),
        ),
        historyBody,
      ),
    ),
  );
  let plots: uPlot[] = [];
  const scheme = matchMedia('(prefers-color-scheme: dark)');
  let seriesAt = 0;
  let seriesTimer: number | undefined;
  let picked: string | undefined;
  let releaseStart: number | undefined;
  const report = h('div', { class: 'report-slot' });
  /** What this API keeps of a rollout besides its state: each false once it is not served or answers 404. */
  const kept = {
    history: serves('GET', rolloutRoute('history')),
    series: serves('GET', rolloutRoute('series')),
    reports: serves('GET', rolloutRoute('analyses/{id}')),
  };
  const notKept = (what: keyof typeof kept, text: string) => {
    kept[what] = false;
    return h('p', { class: 'note', 'data-not-kept': what }, text);
  };
  const noHistory = () =>
    historyBody.replaceChildren(
      h('tr', {}, h('td', { colspan: 3 }, notKept('history', 'This API does not keep a rollout’s history.'))),
    );
  const noSeries = () => {
    range.disabled = true;
    charts.replaceChildren(notKept('series', 'This API does not keep a rollout’s traffic and latency over time.'));
  };
  /** A 404 from a route the document listed (an older server): the same calm note. */
  const absent = (err: unknown) => err instanceof ApiError && err.status === 404;

  const loadRollout = async () => {
    let r: Rollout;
    try {
      r = await api<Rollout>(rolloutPath(name));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        top.replaceChildren(h('h1', {}, name), h('p', { role: 'alert' }, `There is no rollout ${name}.`));
        return;
      }
      // On a cluster: a Rollout the operator has not taken on (yet), with why.
      if (err instanceof ApiError && err.status === 409) {
        top.replaceChildren(h('h1', {}, name), h('p', { class: 'note' }, err.message));
        return;
      }
      throw err;
    }
    top.replaceChildren(
      ...summary(r),
      actions(r, who, () => void refresh()),
    );
    drawAnalyses(r);
    root.dataset.phase = r.phase;
  };
  const drawAnalyses = (r: Rollout) => {
    // The one a person picked, else the run that failed, else the newest.
    const openReport =
      picked !== undefined && r.analyses.some((a) => a.id === picked)
        ? picked
        : (r.analyses.find((a) => a.verdict === 'Failed') ?? r.analyses.at(-1))?.id;
    const list = h(
      'ul',
      { class: 'analysis-list' },
      r.analyses.map((a) => {
        const show = h('button', { type: 'button', 'aria-pressed': String(a.id === openReport) }, `Report ${a.id}`);
        show.addEventListener('click', () => {
          picked = a.id;
          drawAnalyses(r);
        });
        return h(
          'li',
          {},
          badge(a.verdict),
          ` ${a.template} (${a.scope}${a.scope === 'step' ? ` at step ${a.step + 1}` : ''}), started ${clock(a.startedAt)}${a.score === undefined ? '' : `, score ${a.score}`} `,
          show,
        );
      }),
    );
    analyses.replaceChildren(
      h('h2', { id: 'analyses-title' }, 'Analyses'),
      r.analyses.length === 0 ? h('p', {}, 'No analysis has run in this release.') : list,
      report,
    );
    if (openReport === undefined) report.replaceChildren();
    else if (!kept.reports) report.replaceChildren(notKept('reports', 'This API does not keep analysis reports.'));
    // The report in place is replaced only once the new one is read, so it does not flicker each round.
    else
      api<Report>(`${rolloutPath(name)}/analyses/${encodeURIComponent(openReport)}`).then(
        (rep) => report.replaceChildren(reportTable(rep)),
        (err: unknown) => report.replaceChildren(h('p', {}, `No report yet (${String(err)}).`)),
      );
  };
  const loadHistory = async () => {
    if (!kept.history) return noHistory();
    let events: EventRow[];
    try {
      ({ events } = await api<{ events: EventRow[] }>(`${rolloutPath(name)}/history?limit=200`));
    } catch (err) {
      if (absent(err)) return noHistory();
      throw err;
    }
    releaseStart = events.findLast((e) => e.type === 'deploy')?.at;
    historyBody.replaceChildren(
      ...events
        .slice()
        .reverse()
        .map((e) =>
          h(
            'tr',
            {},
            h('td', {}, clock(e.at)),
            h('td', {}, eventLine(e)),
            h('td', {}, typeof e.data.actor === 'string' ? e.data.actor : '–'),
          ),
        ),
    );
  };
  const loadSeries = async () => {
    if (!kept.series) return noSeries();
    seriesAt = Date.now();
    const to = Date.now() + 1000;
    let series: Series;
    try {
      series = await api<Series>(`${rolloutPath(name)}/series?from=${from(to)}&to=${to}&points=300`);
    } catch (err) {
      if (absent(err)) return noSeries();
      throw err;
    }
    plots.forEach((p) => p.destroy());
    plots = drawCharts(charts, series);
    charts.dataset.points = String(series.t.length);
    charts.dataset.scheme = scheme.matches ? 'dark' : 'light';
  };
  /** This release from a little before its deploy (an hour when there is none), or the range chosen. */
  const from = (to: number) =>
    range.value !== 'release'
      ? to - Number(range.value)
      : releaseStart === undefined
        ? to - 3_600_000
        : Math.max(to - 31 * 86_400_000, releaseStart - 5000);
  const seriesSoon = () => {
    if (seriesTimer !== undefined) return;
    const wait = Math.max(0, seriesAt + SERIES_EVERY_MS - Date.now());
    seriesTimer = window.setTimeout(() => {
      seriesTimer = undefined;
      void loadSeries().catch(shown);
    }, wait);
  };
  const shown = (err: unknown) => {
    if (!(err instanceof ApiError && err.status === 404)) console.error(err);
  };
  const refresh = () => Promise.all([loadRollout(), loadHistory()]).catch(shown);
  range.addEventListener('change', () => void loadSeries().catch(shown));
  // The charts take their colours from the stylesheet when drawn: a change of scheme draws them again.
  const redraw = () => void loadSeries().catch(shown);
  scheme.addEventListener('change', redraw);
  const stop = watch(
    name,
    () => {
      void refresh();
      seriesSoon();
    },
    // The history says where this release began, which the charts start from.
    () => void refresh().then(() => loadSeries().catch(shown)),
  );
  return () => {
    stop();
    scheme.removeEventListener('change', redraw);
    if (seriesTimer !== undefined) window.clearTimeout(seriesTimer);
    plots.forEach((p) => p.destroy());
  };
}

function summary(r: Rollout): HTMLElement[] {
  const lit = (p: string) =>
    h(
      'li',
      {
        class: p === r.phase ? `lit ${p === 'Paused' ? 'wait' : ''}` : undefined,
        'aria-current': p === r.phase ? 'step' : undefined,
      },
      p,
    );
  const versions = r.canary ? `${r.stable} → ${r.canary}` : r.stable;
  const { stable, canary, baseline } = r.weights;
  const notes = [
    r.paused ? `Paused: ${r.paused.message}${r.paused.held === undefined ? '' : ` (held at ${r.paused.held}%)`}` : '',
    r.pauseLeft === undefined ? '' : `${duration(r.pauseLeft)} left of this pause`,
    r.gate ? `Waiting on ${r.gate.type}: ${r.gate.message}` : '',
    r.result ? `${r.result.outcome} ${r.result.version}: ${r.result.reason}` : '',
  ].filter((n) => n !== '');
  return [
    h('h1', {}, rolloutRef(r), ' ', badge(r.phase)),
    h('p', { class: 'sub' }, `${versions}${r.listen ? ` · users at ${r.listen}` : ''} · ${r.message}`),
    r.conditions?.length
      ? h(
          'ul',
          { class: 'conditions', 'aria-label': 'Conditions' },
          r.conditions.map((c) =>
            h(
              'li',
              { 'data-condition': c.type },
              `${c.type}: ${c.status}${c.reason ? ` (${c.reason})` : ''}${c.message ? ` — ${c.message}` : ''}`,
            ),
          ),
        )
      : h('span'),
    notes.length
      ? h(
          'ul',
          { class: 'notes' },
          notes.map((n) => h('li', {}, n)),
        )
      : h('span'),
    h(
      'nav',
      { class: 'lifecycle', 'aria-label': 'Lifecycle' },
      h('ol', {}, LIFECYCLE.map(lit)),
      h('ul', { class: 'aside' }, ASIDE.map(lit)),
    ),
    h(
      'div',
      { class: 'weights' },
      h(
        'div',
        {
          class: 'weight-bar',
          role: 'img',
          'aria-label': `stable ${stable}%, canary ${canary}%${baseline ? `, baseline ${baseline}%` : ''}`,
        },
        widthOf(h('span', { class: 'stable' }), stable),
        widthOf(h('span', { class: 'baseline' }), baseline),
        widthOf(h('span', { class: 'canary' }), canary),
      ),
      h(
        'p',
        { class: 'legend', 'data-weights': `${stable}/${canary}/${baseline}` },
        h('span', { class: 'key stable' }),
        ` stable ${stable}%  `,
        h('span', { class: 'key canary' }),
        ` canary ${canary}%`,
        baseline ? [h('span', { class: 'key baseline' }), ` baseline ${baseline}%`] : null,
      ),
    ),
    h(
      'section',
      { class: 'steps', 'aria-labelledby': 'steps-title' },
      h('h2', { id: 'steps-title' }, 'Steps'),
      h(
        'ol',
        {},
        r.steps.map((s) =>
          h('li', { class: s.state, 'aria-current': s.state === 'current' ? 'step' : undefined }, s.text),
        ),
      ),
    ),
  ];
}
