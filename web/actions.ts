/**
 * The operator's controls on a rollout, each behind a confirmation in a real `<dialog>`
 * (focus moves into it and Escape cancels, as the browser does for modal dialogs). A viewer
 * sees them disabled, with the reason beside them; the server refuses them all the same. A
 * control the API does not serve (none of these today, on either API) is not shown.
 */
import { api, mayAct, rolloutPath, rolloutRef } from './api.js';
import { h } from './dom.js';
import { rolloutRoute, serves } from './served.js';
import type { Rollout, Who } from './types.js';

interface Control {
  command: string;
  label: string;
  /** What the confirmation asks, in a sentence. */
  asks: (r: Rollout) => string;
  danger?: boolean;
}

const CONTROLS: Control[] = [
  { command: 'promote', label: 'Promote', asks: (r) => `Move ${r.name} to its next step now?` },
  { command: 'pause', label: 'Pause', asks: (r) => `Hold ${r.name} where it is until resumed?` },
  { command: 'resume', label: 'Resume', asks: (r) => `Let ${r.name} go on with its steps?` },
  {
    command: 'abort',
    label: 'Abort',
    asks: (r) => `Send every user of ${r.name} back to ${r.stable} and stop the canary?`,
    danger: true,
  },
  { command: 'retry', label: 'Retry', asks: (r) => `Start ${r.name}'s last release again from its first step?` },
  {
    command: 'undo',
    label: 'Undo',
    asks: (r) => `Roll ${r.name} back to the version before ${r.stable}?`,
    danger: true,
  },
  { command: 'weight', label: 'Set weight…', asks: (r) => `Hold ${r.name}'s canary at this weight until resumed:` },
];

/** The controls' row; `done` is called after a command the controller took. */
export function actions(r: Rollout, who: Who, done: () => void): HTMLElement {
  const allowed = mayAct(who);
  const status = h('p', { class: 'action-status', role: 'status' });
  const buttons = CONTROLS.filter((c) => serves('POST', rolloutRoute(c.command))).map((c) => {
    const button = h(
      'button',
      {
        type: 'button',
        class: c.danger ? 'danger' : undefined,
        'data-command': c.command,
        disabled: !allowed,
        'aria-describedby': allowed ? undefined : 'actions-why',
      },
      c.label,
    );
    button.addEventListener('click', () => confirm(c, r, status, done));
    return button;
  });
  return h(
    'section',
    { class: 'actions', 'aria-labelledby': 'actions-title' },
    h('h2', { id: 'actions-title' }, 'Actions'),
    h('div', { class: 'buttons' }, buttons),
    allowed
      ? null
      : h('p', { id: 'actions-why', class: 'note' }, `${who.actor} is a ${who.role}: these need the operator role.`),
    status,
  );
}

function confirm(c: Control, r: Rollout, status: HTMLElement, done: () => void): void {
  const reason = h('input', { id: 'confirm-reason', type: 'text', maxlength: 500, autocomplete: 'off' });
  const weight = h('input', {
    id: 'confirm-weight',
    type: 'number',
    min: 0,
    max: 100,
    step: 0.01,
    required: true,
    value: r.weights.canary,
  });
  const full = h('input', { type: 'checkbox', id: 'confirm-full' });
  const error = h('p', { class: 'error', role: 'alert' });
  const yes = h(
    'button',
    { type: 'submit', class: c.danger ? 'danger' : 'primary', value: 'yes' },
    c.label.replace('…', ''),
  );
  const form = h(
    'form',
    { method: 'dialog' },
    h('h2', { id: 'confirm-title' }, `${c.label.replace('…', '')} ${r.name}`),
    h('p', {}, c.asks(r)),
    c.command === 'weight' ? [h('label', { for: 'confirm-weight' }, 'Canary weight (%)'), weight] : null,
    // The controller keeps a reason for these two only (src/rollout/person-command.ts).
    c.command === 'weight' || c.command === 'abort'
      ? [h('label', { for: 'confirm-reason' }, 'Reason (kept in the history)'), reason]
      : null,
    c.command === 'promote'
      ? h('label', { class: 'check' }, full, ' Skip the remaining steps: every user to the canary now')
      : null,
    error,
    h('div', { class: 'buttons' }, h('button', { type: 'button', value: 'no', 'data-cancel': true }, 'Cancel'), yes),
  );
  const dialog = h('dialog', { 'aria-labelledby': 'confirm-title' }, form);
  form.querySelector('[data-cancel]')!.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => dialog.remove());
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    yes.disabled = true;
    const why = reason.value.trim();
    const body = {
      ...(c.command === 'weight' ? { weight: Number(weight.value) } : {}),
      ...(c.command === 'promote' && full.checked ? { full: true } : {}),
      ...(why ? { reason: why } : {}),
    };
    api(`${rolloutPath(rolloutRef(r))}/${c.command}`, { method: 'POST', body })
      .then(() => {
        dialog.close();
        status.textContent = `${c.label.replace('…', '')}: done.`;
        done();
      })
      .catch((err: unknown) => {
        yes.disabled = false;
        error.textContent = err instanceof Error ? err.message : String(err);
      });
  });
  document.body.append(dialog);
  dialog.showModal();
}
