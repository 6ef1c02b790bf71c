/**
 * The rollouts: name, phase, weight, step, last verdict and age, filtered by phase and
 * searched by name as one types (both kept in the address's query, so a filtered view can
 * be bookmarked), and kept live from the event stream (read again every 5 s where there is
 * none: the operator's API). On a cluster each is named NAMESPACE/NAME.
 */
import { api, ApiError, rolloutHref, rolloutPath, rolloutRef } from './api.js';
import { badge, duration, h, widthOf } from './dom.js';
import { watch } from './live.js';
import { PHASES, type Rollout } from './types.js';

export function listPage(root: HTMLElement): () => void {
  const rollouts = new Map<string, Rollout>();
  const query = new URLSearchParams(location.search);
  const search = h('input', { type: 'search', id: 'search', value: query.get('q') ?? '', autocomplete: 'off' });
  const phase = h(
    'select',
    { id: 'phase' },
    h('option', { value: '' }, 'every phase'),
    PHASES.map((p) => h('option', { value: p, selected: p === query.get('phase') }, p)),
  );
  const count = h('p', { class: 'count', 'aria-live': 'polite' });
  const body = h('tbody');
  root.replaceChildren(
    h('h1', {}, 'Rollouts'),
    h(
      'div',
      { class: 'toolbar' },
      h('label', { for: 'search' }, 'Search by name'),
      search,
      h('label', { for: 'phase' }, 'Phase'),
      phase,
      count,
    ),
    h(
      'table',
      { class: 'rollouts' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Name', 'Phase', 'Canary weight', 'Step', 'Last verdict', 'Changed'].map((c) =>
            h('th', { scope: 'col' }, c),
          ),
        ),
      ),
      body,
    ),
  );

  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = [...rollouts.values()]
      .filter((r) => (phase.value === '' || r.phase === phase.value) && rolloutRef(r).toLowerCase().includes(q))
      .sort((a, b) => rolloutRef(a).localeCompare(rolloutRef(b)));
    body.replaceChildren(...shown.map(row));
    count.textContent = `${shown.length} of ${rollouts.size} rollouts`;
  };
  const keepInAddress = () => {
    const next = new URLSearchParams();
    if (search.value.trim()) next.set('q', search.value.trim());
    if (phase.value) next.set('phase', phase.value);
    const text = next.toString();
    history.replaceState(null, '', text ? `/?${text}` : '/');
    draw();
  };
  search.addEventListener('input', keepInAddress);
  phase.addEventListener('change', keepInAddress);

  const loadAll = async () => {
    const list = await api<{ rollouts: Rollout[] }>('/api/v1/rollouts');
    rollouts.clear();
    for (const r of list.rollouts) rollouts.set(rolloutRef(r), r);
    draw();
    root.dataset.loaded = 'true';
  };
  const loadOne = async (name: string) => {
    try {
      rollouts.set(name, await api<Rollout>(rolloutPath(name)));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) rollouts.delete(name);
      else throw err;
    }
  };
  const showError = (err: unknown) => count.replaceChildren(h('span', { role: 'alert' }, String(err)));
  const stop = watch(
    undefined,
    (names) => void Promise.all([...names].map(loadOne)).then(draw, showError),
    () => void loadAll().catch(showError),
  );
  // Ages move on with no event.
  const tick = window.setInterval(draw, 10_000);
  return () => {
    stop();
    window.clearInterval(tick);
  };
}

function row(r: Rollout): HTMLTableRowElement {
  const last = r.analyses.at(-1);
  const live = r.canary !== undefined && r.result === undefined;
  const ref = rolloutRef(r);
  return h(
    'tr',
    { 'data-rollout': ref },
    h('th', { scope: 'row' }, h('a', { href: rolloutHref(ref), 'data-link': true }, ref)),
    h('td', {}, badge(r.phase)),
    h(
      'td',
      {},
      h('span', { class: 'mini-bar', 'aria-hidden': 'true' }, widthOf(h('span'), r.weights.canary)),
      ` ${r.weights.canary}%`,
    ),
    h('td', {}, live && r.steps.length > 0 ? `${Math.min(r.step + 1, r.steps.length)} of ${r.steps.length}` : '–'),
    h('td', {}, last ? badge(last.verdict) : r.result ? badge(r.result.outcome) : '–'),
    h('td', {}, `${duration(Date.now() - r.updatedAt)} ago`),
  );
}
