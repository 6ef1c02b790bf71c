/**
 * Signing in: a token pasted into a form (`POST /auth/sign-in`, which answers with the
 * session cookie), and the single sign-on button when the controller has OpenID Connect.
 * A controller without browser sessions (its /auth/* answers 404) is said so plainly.
 */
import { api, ApiError, authConfig } from './api.js';
import { h } from './dom.js';

export function signInPage(root: HTMLElement, signedIn: () => void): () => void {
  const message = h('p', { class: 'error', role: 'alert' });
  // The callback's failure comes back as ?sign-in-error=…: shown as text, then taken out of the address.
  const error = new URLSearchParams(location.search).get('sign-in-error');
  if (error) {
    message.textContent = `Sign-in failed: ${error.slice(0, 200)}`;
    history.replaceState(null, '', location.pathname);
  }
  const token = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
  });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'sign-in' },
    h('label', { for: 'token' }, 'API token'),
    token,
    h(
      'p',
      { class: 'note' },
      'Made with ',
      h('code', {}, 'kanari token create'),
      '; it is sent once and never kept here.',
    ),
    submit,
  );
  const sso = h('div', { class: 'sso' });
  root.replaceChildren(h('div', { class: 'sign-in-card' }, h('h1', {}, 'Sign in to kanari'), message, sso, form));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit.disabled = true;
    api('/auth/sign-in', { method: 'POST', body: { token: token.value.trim() } })
      .then(() => {
        token.value = '';
        signedIn();
      })
      .catch((err: unknown) => {
        submit.disabled = false;
        message.textContent =
          err instanceof ApiError && err.status === 404
            ? 'This controller does not offer browser sign-in.'
            : `Sign-in failed: ${err instanceof Error ? err.message : String(err)}`;
      });
  });
  authConfig().then(
    (config) => {
      if (config === undefined) {
        message.textContent ||=
          'This controller does not offer browser sign-in yet: use the CLI (kanari status) or the API with a token.';
        submit.disabled = true;
        token.disabled = true;
      } else if (config.oidc)
        sso.replaceChildren(h('a', { class: 'button primary', href: '/auth/oidc/start' }, config.oidc.label));
    },
    () => {},
  );
  token.focus();
  return () => {};
}
