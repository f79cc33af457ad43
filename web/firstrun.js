// The first run: shown instead of the dashboard after sign-in while the configuration still holds
// the template's example identity (the `blocked` list of GET /api/v1/deploy), which is never
// deployed. One form (domain, host names, postmaster, TLS flavor, the first admin and their
// password twice) sent as POST /api/v1/init: one version, the server's errors at their fields.

import { api } from './api.js';
import { el, form, link, notice, page } from './dom.js';

const FLAVORS = ['cert', 'letsencrypt', 'mail', 'mail-letsencrypt', 'notls'];

// What keeps the deployed version from deploying: [{field, message}], empty when nothing does
// (or when this token may not read the deploy summary: a read token cannot set up anyway).
export async function blocked() {
  try {
    return (await api('deploy')).data.blocked || [];
  } catch {
    return [];
  }
}

// The card the dashboard shows while the configuration is blocked (null when it is not).
export function blockedCard(list) {
  if (!list.length) return null;
  return el('section', { class: 'card', id: 'blocked', role: 'alert', 'aria-labelledby': 'dash-blocked' },
    el('h2', { id: 'dash-blocked' }, 'Not deployed: example values'),
    el('ul', {}, list.map((b) => el('li', {}, `${b.field} ${b.message}`))),
    el('p', {}, link('#/firstrun', 'Set up this server on the first-run page')));
}

// Shows the page; `known`: the blocked list the caller already read (the landing route).
export async function render(known) {
  const list = Array.isArray(known) ? known : await blocked();
  if (!list.length) {
    page('First run', el('p', {}, 'This server is set up: its configuration holds no example value. '
      + 'Change its identity in the ', link('#/settings', 'settings'), '.'));
    return;
  }
  const f = form([
    { name: 'domain', label: 'Mail domain', required: true,
      help: 'Your main mail domain (mail.domain), e.g. example.org; it is also the first domain, the admin\'s.' },
    { name: 'hostnames', label: 'Host names', type: 'list', required: true,
      help: 'This server\'s host names (mail.hostnames), one per line; the first is the primary one (MX, certificate).' },
    { name: 'postmaster', label: 'Postmaster', default: 'postmaster',
      help: 'The local part of the postmaster\'s address, at the mail domain.' },
    { name: 'tls_flavor', label: 'TLS flavor', type: 'select', options: FLAVORS, default: 'cert',
      help: 'cert: a self-signed certificate until you install one; letsencrypt once DNS points here; '
        + 'mail and mail-letsencrypt when another proxy serves the web; notls for tests only.' },
    { name: 'admin', label: 'Admin local part', default: 'admin', required: true,
      help: 'The first admin user (a global admin), at the mail domain.' },
    { name: 'password', label: 'Admin password', type: 'password', required: true,
      help: 'Hashed by the server; never stored as typed.' },
    { name: 'password2', label: 'Admin password again', type: 'password', required: true },
  ], null, {
    submitLabel: 'Set up',
    onSubmit: async (fa) => {
      const v = fa.values();
      if (v.password !== v.password2) {
        fa.showError({ message: 'The two passwords differ; nothing was sent.',
          errors: { password2: 'does not match the password' } });
        return;
      }
      const body = { domain: v.domain.trim(), hostnames: v.hostnames, postmaster: v.postmaster.trim(),
        tls_flavor: v.tls_flavor, admin: v.admin.trim(), password: v.password };
      let reply;
      try {
        reply = await api('init?wait=true', { method: 'POST', body });
      } catch (err) {
        fa.showError(err);
        return;
      }
      const d = reply.data || {};
      const p = notice(d.version ? `Set up: version ${d.version}. ${d.message}.`
        : `Set up: ${d.message}. It becomes a version within seconds.`, 'ok');
      if (d.version) p.dataset.version = String(d.version);
      window.dispatchEvent(new Event('mailu-git-changed'));
      location.hash = '#/dashboard';
    },
  });
  page('First run',
    el('p', {}, 'This server still holds the template\'s example identity, and example values are never '
      + 'deployed: the worker starts nothing until they are replaced. Give your own here; it all becomes '
      + 'one version.'),
    el('ul', {}, list.map((b) => el('li', {}, `${b.field} ${b.message}`))),
    f.node);
  f.fields[0].input.focus();
}
