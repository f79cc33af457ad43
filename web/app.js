// The application's entry: the navigation, the hash router (#/<page>/<args>?<query>), sign-in
// state, and the pending-changes indicator. The landing route (#/, where sign-in leads) is the
// first-run page while the configuration is on the template's example values, else the dashboard.

import { api, token } from './api.js';
import { ageNotice, el, link, notice, page, replace } from './dom.js';
import * as signin from './signin.js';
import * as dashboard from './dashboard.js';
import * as firstrun from './firstrun.js';
import * as domains from './domains.js';
import * as alternatives from './alternatives.js';
import * as relays from './relays.js';
import * as users from './users.js';
import * as aliases from './aliases.js';
import * as managers from './managers.js';
import * as tokens from './tokens.js';
import * as fetches from './fetches.js';
import * as overrides from './overrides.js';
import * as history from './history.js';
import { renderServices, renderSettings } from './settings.js';

const PAGES = [
  ['dashboard', 'Dashboard', dashboard.render],
  ['domains', 'Domains', domains.render],
  ['alternatives', 'Alternatives', alternatives.render],
  ['relays', 'Relays', relays.render],
  ['users', 'Users', users.render],
  ['aliases', 'Aliases', aliases.render],
  ['managers', 'Managers', managers.render],
  ['tokens', 'User tokens', tokens.render],
  ['fetches', 'Fetched accounts', fetches.render],
  ['settings', 'Settings', renderSettings],
  ['services', 'Services', renderServices],
  ['overrides', 'Overrides', overrides.render],
  ['history', 'History', history.render],
];

function nav(current) {
  const box = document.getElementById('nav');
  if (!token()) {
    replace(box);
    return;
  }
  replace(box, PAGES.map(([route, title]) => link(`#/${route}`, title,
    { 'aria-current': route === current ? 'page' : null })),
  el('button', { type: 'button', class: 'secondary', id: 'signout', onclick: signin.signOut }, 'Sign out'));
}

// How many changes wait to become a version, shown in the header.
async function pending() {
  const box = document.getElementById('pending');
  if (!token()) {
    box.textContent = '';
    return;
  }
  try {
    const p = (await api('pending')).data;
    const n = p.changes.length;
    box.textContent = n ? `${n} change(s) pending, next version in ${Math.ceil((p.due_in_ms || 0) / 1000)} s` : '';
  } catch {
    box.textContent = '';
  }
}

async function route() {
  ageNotice();
  const [pathPart, queryPart] = location.hash.replace(/^#\/?/, '').split('?');
  const [name, ...args] = pathPart.split('/');
  const query = new URLSearchParams(queryPart || '');
  if (!token()) {
    nav(null);
    signin.render();
    return;
  }
  if (name === 'signin') {
    location.hash = '#/';
    return;
  }
  let entry = PAGES.find(([r]) => r === name) || PAGES[0];
  if (name === 'firstrun') entry = ['firstrun', 'First run', () => firstrun.render()];
  else if (!name) {
    const blocked = await firstrun.blocked();
    if (blocked.length) entry = ['firstrun', 'First run', () => firstrun.render(blocked)];
  }
  nav(entry[0]);
  pending();
  try {
    await entry[2](args, query);
  } catch (err) {
    page(entry[1], el('p', { class: 'error', role: 'alert' }, `This page cannot be shown. ${err.message}`),
      el('button', { type: 'button', onclick: route }, 'Try again'));
  }
}

window.addEventListener('hashchange', route);
window.addEventListener('mailu-git-changed', pending);
window.addEventListener('mailu-git-signed-out', (e) => {
  // The token stays in the tab: a revoked token is replaced by signing in again; the page's form
  // (and what was typed) stays as it is until then.
  notice(`${e.detail} Use "Sign out" and sign in with a valid token; what you typed is kept on this page.`,
    'error');
});
route();
