// A list / create / edit / delete page for one resource of the API, described by a small object
// (see domains.js): routes #/<route>, #/<route>/new and #/<route>/edit/<key>.

import { api, seg, tracked } from './api.js';
import { button, confirmAction, el, form, link, notice, page, table } from './dom.js';

const PAGE = 20;

// Entry point of a resource page: args are the hash's segments after the route.
export function resourcePage(spec, args, query) {
  if (args[0] === 'new' && spec.create !== false) return createView(spec);
  if (args[0] === 'edit' && args[1] !== undefined) return editView(spec, decodeURIComponent(args[1]));
  return listView(spec, query);
}

const keyOf = (spec, row) => String(row[spec.key]);
const base = (spec) => (typeof spec.path === 'function' ? spec.path() : spec.path);

async function listView(spec, query) {
  const q = query.get('q') || '';
  const offset = Number(query.get('offset') || 0);
  let rows;
  let total;
  if (spec.serverPaging) {
    const reply = await api(`${base(spec)}?q=${encodeURIComponent(q)}&limit=${PAGE}&offset=${offset}`);
    rows = reply.data;
    total = reply.total === null ? rows.length : reply.total;
  } else {
    const all = spec.unwrap ? spec.unwrap((await api(base(spec))).data) : (await api(base(spec))).data;
    const needle = q.toLowerCase();
    const matching = all.filter((r) => !needle || JSON.stringify(r).toLowerCase().includes(needle));
    total = matching.length;
    rows = matching.slice(offset, offset + PAGE);
  }
  const search = el('input', { type: 'search', id: `${spec.route}-q`, name: 'q', value: q });
  const searchForm = el('form', { class: 'toolbar', role: 'search', onsubmit: (e) => {
    e.preventDefault();
    location.hash = `#/${spec.route}?q=${encodeURIComponent(search.value)}`;
  } },
  el('div', { class: 'field' }, el('label', { for: search.id }, `Search ${spec.plural}`), search),
  el('button', { type: 'submit', class: 'secondary' }, 'Search'),
  spec.create === false ? null : link(`#/${spec.route}/new`, `New ${spec.noun}`, { class: 'button' }));
  const columns = [...spec.columns, { label: 'Actions', actions: true, value: (row) => [
    spec.edit === false ? null : link(`#/${spec.route}/edit/${encodeURIComponent(keyOf(spec, row))}`,
      'Edit', { 'aria-label': `Edit ${keyOf(spec, row)}` }),
    ' ',
    button('Delete', () => remove(spec, keyOf(spec, row), null, () => listView(spec, query)), 'danger',
      { 'aria-label': `Delete ${keyOf(spec, row)}` }),
  ] }];
  const pager = el('div', { class: 'pager' },
    el('span', {}, total === 0 ? 'No matches.' : `${offset + 1}–${offset + rows.length} of ${total}`),
    offset > 0 ? link(`#/${spec.route}?q=${encodeURIComponent(q)}&offset=${Math.max(0, offset - PAGE)}`,
      'Previous page') : null,
    offset + PAGE < total ? link(`#/${spec.route}?q=${encodeURIComponent(q)}&offset=${offset + PAGE}`,
      'Next page') : null);
  page(spec.title, spec.intro ? el('p', {}, spec.intro) : null, searchForm,
    table(columns, rows, spec.title), pager);
}

// The JSON body of a create: empty optional values are left out, so the server's defaults apply.
function createBody(fields, values) {
  const body = {};
  for (const f of fields) {
    const v = values[f.name];
    if (v === null || v === undefined) continue;
    if (v === '' && !f.required) continue;
    if (Array.isArray(v) && v.length === 0 && !f.required) continue;
    body[f.name] = v;
  }
  return body;
}

async function createView(spec) {
  const fields = spec.fields.filter((f) => !f.editOnly)
    .map((f) => ({ ...f, readonly: false, required: f.required || f.key }));
  const f = form(fields, spec.defaults || {}, {
    submitLabel: `Create ${spec.noun}`,
    extraButtons: [link(`#/${spec.route}`, 'Cancel', { class: 'button secondary' })],
    onSubmit: async (formApi) => {
      let values;
      try {
        values = formApi.values();
      } catch (e) {
        formApi.showError({ message: `A field does not hold valid JSON: ${e.message}` });
        return;
      }
      try {
        const reply = await api(base(spec), { method: 'POST', body: createBody(fields, values) });
        formApi.showError(null);
        const p = await tracked(reply, `${spec.noun} created`);
        if (spec.afterCreate) spec.afterCreate(reply, p);
        location.hash = `#/${spec.route}`;
      } catch (err) {
        formApi.showError(err);
      }
    },
  });
  page(`New ${spec.noun}`, f.node);
  f.fields[0].input.focus();
}

// The changed fields of an edit (a password only when typed), for PATCH.
function patchBody(fields, original, values) {
  const body = {};
  for (const f of fields) {
    if (f.key || f.readonly) continue;
    const v = values[f.name];
    if (f.type === 'password') {
      if (v) body[f.name] = v;
      continue;
    }
    const before = original[f.name] === undefined ? (f.type === 'list' ? [] : null) : original[f.name];
    // An unset value (null: a relay's own MX, an alias without hostname) left empty stays unset.
    if (v === '' && (before === null || before === undefined)) continue;
    if (JSON.stringify(v ?? null) !== JSON.stringify(before ?? null)) body[f.name] = v;
  }
  return body;
}

async function editView(spec, key, keep) {
  const reply = await api(`${base(spec)}/${seg(key)}`);
  let original = reply.data;
  let etag = reply.etag;
  const fields = spec.fields.filter((f) => !f.createOnly || f.key)
    .map((f) => (f.key ? { ...f, readonly: true, required: false }
      : { ...f, required: f.type === 'password' ? false : f.required }));
  const reload = () => editView(spec, key);
  const f = form(fields, original, {
    submitLabel: 'Save changes',
    extraButtons: [
      spec.delete === false ? null : button(`Delete ${spec.noun}`,
        () => remove(spec, key, etag, () => { location.hash = `#/${spec.route}`; }), 'danger'),
      link(`#/${spec.route}`, 'Back to the list', { class: 'button secondary' }),
    ],
    onSubmit: async (formApi) => {
      let values;
      try {
        values = formApi.values();
      } catch (e) {
        formApi.showError({ message: `A field does not hold valid JSON: ${e.message}` });
        return;
      }
      const body = patchBody(fields, original, values);
      if (Object.keys(body).length === 0) {
        formApi.showError(null);
        notice('Nothing changed, nothing to save.');
        return;
      }
      try {
        const saved = await api(`${base(spec)}/${seg(key)}`, { method: 'PATCH', body, ifMatch: etag });
        formApi.showError(null);
        await tracked(saved, `${spec.noun} ${key} saved`);
        const fresh = await api(`${base(spec)}/${seg(key)}`);
        original = fresh.data;
        etag = fresh.etag;
      } catch (err) {
        formApi.showError(err);
        if (err.status === 412) {
          formApi.formError.append(el('div', { class: 'buttons' },
            button('Reload the current values (discards your edits)', reload)));
        }
      }
    },
  });
  for (const field of f.fields) {
    if (field.spec.type === 'password') field.set('');
  }
  page(`${spec.noun[0].toUpperCase()}${spec.noun.slice(1)} ${key}`, f.node,
    spec.detail ? spec.detail(original) : null);
  if (keep) keep(f);
}

async function remove(spec, key, etag, after) {
  const ok = await confirmAction(`Delete ${spec.noun} ${key}? ${spec.deleteWarning || ''}`.trim(),
    `Delete ${spec.noun}`);
  if (!ok) return;
  try {
    const reply = await api(`${base(spec)}/${seg(key)}`, { method: 'DELETE', ifMatch: etag || undefined });
    await tracked(reply, `${spec.noun} ${key} deleted`);
    after();
  } catch (err) {
    notice(`${spec.noun} ${key} was not deleted. ${err.message}`, 'error');
  }
}
