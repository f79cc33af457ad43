// Settings (mailu.toml) and services (services/<name>.toml): edited as forms, saved as merge
// patches with If-Match, the server's errors shown at their fields.

import { api, seg, tracked } from './api.js';
import { button, el, link, notice, page, replace, table } from './dom.js';
import { jsonFields, mergePatch } from './jsonform.js';

// Shows errors of the API at the fields of a jsonFields form; the rest above it.
function showErrors(jf, box, err) {
  for (const f of jf.fields) f.setError('');
  const rest = [];
  let first = null;
  for (const [key, message] of Object.entries((err && err.errors) || {})) {
    const target = jf.fields.find((f) => f.spec.name === key)
      || jf.fields.find((f) => key.startsWith(`${f.spec.name}.`) || key.startsWith(`${f.spec.name}[`));
    if (target) {
      target.setError(message);
      first = first || target;
    } else rest.push(`${key}: ${message}`);
  }
  replace(box, err ? el('p', { class: 'error', role: 'alert' }, err.message,
    rest.length ? el('ul', {}, rest.map((r) => el('li', {}, r))) : null) : null);
  if (first) first.input.focus();
}

// An editor of one JSON document at `path` (GET and PATCH).
async function editor(title, path, options, intro) {
  const loaded = await api(path);
  let original = loaded.data;
  let etag = loaded.etag;
  const jf = jsonFields(original, options);
  const box = el('div', { class: 'form-error', 'aria-live': 'assertive' });
  const submit = el('button', { type: 'submit' }, 'Save changes');
  const formNode = el('form', { class: 'edit', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    let patch;
    try {
      patch = mergePatch(original, jf.value());
    } catch (err) {
      showErrors(jf, box, err);
      return;
    }
    if (patch === undefined) {
      showErrors(jf, box, null);
      notice('Nothing changed, nothing to save.');
      return;
    }
    submit.disabled = true;
    try {
      const saved = await api(path, { method: 'PATCH', body: patch, ifMatch: etag });
      showErrors(jf, box, null);
      await tracked(saved, `${title} saved`);
      const fresh = await api(path);
      original = fresh.data;
      etag = fresh.etag;
    } catch (err) {
      showErrors(jf, box, err);
      if (err.status === 412) {
        box.append(el('div', { class: 'buttons' }, button('Reload the current values (discards your edits)',
          () => editor(title, path, options, intro))));
      }
    } finally {
      submit.disabled = false;
    }
  } }, box, jf.node, el('div', { class: 'buttons' }, submit));
  page(title, intro ? el('p', {}, intro) : null, formNode);
}

export function renderSettings() {
  return editor('Settings', 'settings', {},
    'The global settings (mailu.toml). Only the keys you change are sent; an empty number resets it.');
}

export async function renderServices(args) {
  if (args[0]) {
    const name = decodeURIComponent(args[0]);
    return editor(`Service ${name}`, `service/${seg(name)}`,
      { skip: ['name'], asJson: (p, v) => p.length === 1 && v !== null && typeof v === 'object' },
      'The container the worker deploys for this service. Secrets in env are written { "secret": "kind/name" }.');
  }
  const list = (await api('service')).data;
  return page('Services', table([
    { label: 'Service', value: (s) => s.name },
    { label: 'Image', value: (s) => s.image },
    { label: 'Enabled', value: (s) => (s.enabled ? 'yes' : 'no') },
    { label: 'Actions', actions: true, value: (s) => [
      link(`#/services/${encodeURIComponent(s.name)}`, 'Edit', { 'aria-label': `Edit service ${s.name}` }), ' ',
      link(`#/overrides/override/${encodeURIComponent(s.name)}`, 'Overrides',
        { 'aria-label': `Overrides of ${s.name}` })] },
  ], list, 'Services'));
}
