/**
 * Live updates: the controller's event stream through the browser's EventSource (same
 * origin, so the session cookie goes with it, and it reconnects with Last-Event-ID by
 * itself). Events only say which rollout changed; the page fetches that rollout again,
 * once per burst (a round of measurements is many events).
 *
 * One rollout is watched on its own stream (`/api/v1/rollouts/NAME/events`) where the API
 * serves one, else on the event log's; the operator's API serves no event log, so where
 * there is no stream (or it answers 404) the page reads everything again every 5 s instead.
 */
import { rolloutPath } from './api.js';
import { h } from './dom.js';
import { rolloutRoute, serves } from './served.js';
import type { EventRow } from './types.js';

/** The header's connection state, read out by screen readers when it changes. */
export const liveState = h('span', { class: 'live', role: 'status', 'aria-live': 'polite' }, 'connecting…');

/** How often a page without a stream reads again. */
export const POLL_MS = 5000;

/**
 * Calls `changed` with the rollouts that had events, at most every `ms`; `reopened` each
 * time the stream (re)connects, when events may have been missed and everything is read
 * again — and, without a stream, every `POLL_MS`.
 */
export function watch(
  rollout: string | undefined,
  changed: (names: Set<string>) => void,
  reopened: () => void,
  ms = 300,
): () => void {
  let timer: number | undefined;
  let poller: number | undefined;
  let source: EventSource | undefined;
  const poll = () => {
    source?.close();
    source = undefined;
    liveState.textContent = `every ${POLL_MS / 1000} s`;
    liveState.dataset.state = 'polling';
    reopened();
    poller ??= window.setInterval(reopened, POLL_MS);
  };
  const url = streamUrl(rollout);
  if (url === undefined) poll();
  else {
    source = new EventSource(url);
    let pending = new Set<string>();
    source.onopen = () => {
      liveState.textContent = 'live';
      liveState.dataset.state = 'open';
      reopened();
    };
    source.onerror = () => {
      // Closed for good: the stream answered something other than a stream (a 404 where there is none).
      if (source?.readyState === EventSource.CLOSED) return poll();
      liveState.textContent = 'reconnecting…';
      liveState.dataset.state = 'closed';
    };
    source.onmessage = (m: MessageEvent<string>) => {
      let e: EventRow;
      try {
        e = JSON.parse(m.data) as EventRow;
      } catch {
        return;
      }
      pending.add(e.rollout);
      timer ??= window.setTimeout(() => {
        const names = pending;
        pending = new Set();
        timer = undefined;
        changed(names);
      }, ms);
    };
  }
  return () => {
    source?.close();
    if (poller !== undefined) window.clearInterval(poller);
    // A page without a stream (the history) says nothing about one.
    liveState.textContent = '';
    delete liveState.dataset.state;
    if (timer !== undefined) window.clearTimeout(timer);
  };
}

/** The stream to watch, or undefined when this API serves none for it. */
function streamUrl(rollout: string | undefined): string | undefined {
  // Only what comes next: the page reads the state itself each time the stream opens.
  if (rollout !== undefined && serves('GET', rolloutRoute('events'))) return `${rolloutPath(rollout)}/events?after=now`;
  if (!serves('GET', '/api/v1/events')) return undefined;
  const query = new URLSearchParams({ after: 'now', ...(rollout === undefined ? {} : { rollout }) });
  return `/api/v1/events?${query.toString()}`;
}
