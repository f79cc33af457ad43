// Sign in with an API access token (kept for this tab only), and sign out.

import { api, setToken } from './api.js';
import { el, form, notice, page } from './dom.js';

export function render(reason) {
  const f = form([{ name: 'token', label: 'Access token', type: 'password', required: true,
    help: 'An admin token (mailu-git access-token create NAME --scope admin). It is kept for this browser tab only.' }],
  {}, {
    submitLabel: 'Sign in',
    onSubmit: async (fa) => {
      const token = fa.values().token.trim();
      if (!token) {
        fa.showError({ message: 'Enter an access token.', errors: { token: 'is required' } });
        return;
      }
      try {
        await api('status', { token });
      } catch (err) {
        const message = err.status === 401 || err.status === 403
          ? 'This access token was not accepted: it is wrong, or it was revoked.'
          : err.message;
        fa.showError({ message, errors: { token: message } });
        return;
      }
      setToken(token);
      notice('Signed in.', 'ok');
      // The landing route: the first run while the configuration is on example values, else the dashboard.
      if (location.hash === '#/') window.dispatchEvent(new Event('hashchange'));
      else location.hash = '#/';
    },
  });
  page('Sign in', el('div', { class: 'signin' }, reason ? el('p', { class: 'error', role: 'alert' }, reason) : null,
    f.node));
  f.fields[0].input.focus();
}

export function signOut() {
  setToken(null);
  notice('Signed out. The token is no longer kept in this tab.', 'ok');
  location.hash = '#/signin';
}
