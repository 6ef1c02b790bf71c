/**
 * The dashboard's entry: who is here (else the sign-in page), the header, and the
 * client-side routes — `/` (the rollouts), `/rollouts/NAME` (on a cluster
 * `/rollouts/NAMESPACE/NAME`), `/history` — moved between with the History API, so the page
 * and its event stream are never reloaded.
 */
import { api, whoIsHere } from './api.js';
import { h } from './dom.js';
import { historyPage } from './history-page.js';
import { listPage } from './list-page.js';
import { liveState } from './live.js';
import { rolloutPage } from './rollout-page.js';
import { loadServed } from './served.js';
import { signInPage } from './sign-in-page.js';
import type { Who } from './types.js';

const header = document.getElementById('top')!;
const main = document.getElementById('main')!;
let leave: () => void = () => {};
let who: Who | undefined;

document.addEventListener('click', (e) => {
  const a = (e.target as Element).closest?.('a[data-link]');
  if (!who || !a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
  e.preventDefault();
  history.pushState(null, '', a.getAttribute('href'));
  show(who);
});
window.addEventListener('popstate', () => who && show(who));

function show(who: Who): void {
  leave();
  const path = location.pathname;
  // A rollout on a cluster is NAMESPACE/NAME, in two segments.
  const rollout = /^\/rollouts\/([^/]+(?:\/[^/]+)?)$/.exec(path);
  for (const a of header.querySelectorAll('a[data-link]'))
    a.toggleAttribute('aria-current', a.getAttribute('href') === path);
  if (path === '/') leave = listPage(main);
  else if (path === '/history') leave = historyPage(main);
  else if (rollout) leave = rolloutPage(main, rollout[1]!.split('/').map(decodeURIComponent).join('/'), who);
  else {
    main.replaceChildren(
      h('h1', {}, 'Not found'),
      h('p', {}, 'No page here. ', h('a', { href: '/', 'data-link': true }, 'The rollouts')),
    );
    leave = () => {};
  }
  document.title = `${path === '/' ? 'Rollouts' : (main.querySelector('h1')?.textContent ?? 'kanari')} · kanari`;
  main.focus({ preventScroll: true });
}

function drawHeader(who: Who): void {
  const signOut = h('button', { type: 'button' }, 'Sign out');
  signOut.addEventListener('click', () => {
    api('/auth/sign-out', { method: 'POST' }).then(
      () => location.assign('/'),
      () => location.assign('/'),
    );
  });
  header.replaceChildren(
    h('a', { class: 'brand', href: '/', 'data-link': true }, 'kanari'),
    h(
      'nav',
      { 'aria-label': 'Pages' },
      h('a', { href: '/', 'data-link': true }, 'Rollouts'),
      h('a', { href: '/history', 'data-link': true }, 'History'),
    ),
    liveState,
    h('span', { class: 'who', 'data-role': who.role }, `${who.actor} (${who.role})`),
    // Only a session can be ended here; a bearer token is the client's own.
    ...(who.csrf ? [signOut] : []),
  );
}

async function start(): Promise<void> {
  who = await whoIsHere();
  if (!who) {
    header.replaceChildren(h('span', { class: 'brand' }, 'kanari'));
    leave = signInPage(main, () => void start());
    return;
  }
  await loadServed();
  leave();
  drawHeader(who);
  show(who);
}

start().catch((err: unknown) =>
  main.replaceChildren(h('p', { role: 'alert' }, `The dashboard could not start: ${String(err)}`)),
);
