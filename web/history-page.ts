/**
 * Past releases of every rollout: each deploy with its outcome, how long it took and who
 * acted on it (who deployed, who promoted, paused or aborted), from each rollout's history.
 */
import { api, rolloutHref, rolloutPath, rolloutRef } from './api.js';
import { badge, clock, duration, h } from './dom.js';
import { releases, type Release } from './releases.js';
import { rolloutRoute, serves } from './served.js';
import type { EventRow, Rollout } from './types.js';

export function historyPage(root: HTMLElement): () => void {
  const body = h('tbody');
  const status = h('p', { role: 'status' }, 'Reading every rollout’s history…');
  root.replaceChildren(
    h('h1', {}, 'History'),
    status,
    h(
      'table',
      { class: 'releases' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Rollout', 'Version', 'Outcome', 'Started', 'Took', 'Who acted'].map((c) => h('th', { scope: 'col' }, c)),
        ),
      ),
      body,
    ),
  );
  let stopped = false;
  if (!serves('GET', rolloutRoute('history'))) {
    status.replaceChildren(
      h('span', { class: 'note', 'data-not-kept': 'history' }, 'This API does not keep rollouts’ history.'),
    );
    root.dataset.loaded = 'true';
    return () => {};
  }
  void (async () => {
    const { rollouts } = await api<{ rollouts: Rollout[] }>('/api/v1/rollouts');
    const all: Release[] = [];
    // A few at a time: a controller with hundreds of rollouts answers the rest meanwhile.
    const queue = rollouts.map(rolloutRef);
    const worker = async () => {
      for (let name = queue.shift(); name !== undefined && !stopped; name = queue.shift()) {
        const { events } = await api<{ events: EventRow[] }>(`${rolloutPath(name)}/history`);
        all.push(...releases(name, events));
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    all.sort((a, b) => b.startedAt - a.startedAt);
    body.replaceChildren(...all.map(releaseRow));
    status.textContent = `${all.length} releases of ${rollouts.length} rollouts`;
    root.dataset.loaded = 'true';
  })().catch((err: unknown) => (status.textContent = String(err)));
  return () => {
    stopped = true;
  };
}

function releaseRow(r: Release): HTMLTableRowElement {
  return h(
    'tr',
    {},
    h('th', { scope: 'row' }, h('a', { href: rolloutHref(r.rollout), 'data-link': true }, r.rollout)),
    h('td', {}, r.version),
    h('td', {}, r.outcome ? badge(r.outcome) : 'in flight'),
    h('td', {}, clock(r.startedAt)),
    h('td', {}, r.seconds === undefined ? '–' : duration(r.seconds * 1000)),
    h('td', {}, [...r.actors].join(', ') || '–'),
  );
}
