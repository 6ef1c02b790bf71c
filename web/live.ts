/**
 * Live updates: the controller's event stream through the browser's EventSource (same
 * origin, so the session cookie goes with it, and it reconnects with Last-Event-ID by
 * itself). Events only say which rollout changed; the page fetches that rollout again,
 * once per burst (a round of measurements is many events).
 */
import { h } from './dom.js';
import type { EventRow } from './types.js';

/** The header's connection state, read out by screen readers when it changes. */
export const liveState = h('span', { class: 'live', role: 'status', 'aria-live': 'polite' }, 'connecting…');

/**
 * Calls `changed` with the rollouts that had events, at most every `ms`; `reopened` each
 * time the stream (re)connects, when events may have been missed and everything is read again.
 */
export function watch(
  rollout: string | undefined,
  changed: (names: Set<string>) => void,
  reopened: () => void,
  ms = 300,
): () => void {
  // Only what comes next: the page reads the state itself each time the stream opens.
  const query = new URLSearchParams({ after: 'now', ...(rollout === undefined ? {} : { rollout }) });
  const source = new EventSource(`/api/v1/events?${query.toString()}`);
  let pending = new Set<string>();
  let timer: number | undefined;
  source.onopen = () => {
    liveState.textContent = 'live';
    liveState.dataset.state = 'open';
    reopened();
  };
  source.onerror = () => {
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
  return () => {
    source.close();
    // A page without a stream (the history) says nothing about one.
    liveState.textContent = '';
    delete liveState.dataset.state;
    if (timer !== undefined) window.clearTimeout(timer);
  };
}
