/**
 * Signing in: a token pasted into a form (`POST /auth/sign-in`, which answers with the
 * session cookie), and the single sign-on button when the controller has OpenID Connect.
 * A controller without browser sessions (its /auth/* answers 404) is said so plainly.
 */
import { api, ApiError, authConfig } from './api.js';
import { h } from './dom.js';

/** The server's codes for a sign-in that made no session (src/server/oidc.ts, SignInError); the detail is in its log. */
const SIGN_IN_ERRORS = new Map<string, string>(
  Object.entries({
    'sso-off': 'single sign-on is not configured here.',
    provider: 'the identity provider refused the sign-in.',
    flow: 'this sign-in was not started in this browser, or took over 10 minutes: start again.',
    state: 'the answer was for another sign-in: start again.',
    actor: 'the identity provider did not say who you are in the claim this controller names people by.',
    role: 'your account has no role here: ask an admin to map one of your groups to a role.',
    invalid: "the identity provider's answer was not valid.",
    link: 'this sign-in link was used already, has expired, or is not one: run kanari up again, or sign in with a token.',
    busy: 'this account signed in too many times in the last minute: wait a minute and try again.',
  }),
);

export function signInPage(root: HTMLElement, signedIn: () => void): () => void {
  const message = h('p', { class: 'error', role: 'alert' });
  // A failed sign-in comes back as ?sign-in-error=CODE: this page's own words for it, never
  // the link's (anyone can send a link with words of their choosing), then out of the address.
  const error = new URLSearchParams(location.search).get('sign-in-error');
  if (error !== null) {
    message.textContent = `Sign-in failed: ${SIGN_IN_ERRORS.get(error) ?? 'try again.'}`;
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
