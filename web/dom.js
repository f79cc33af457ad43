// DOM helpers: build elements whose text is always set as text (never parsed as HTML), forms whose
// inputs all have labels and an error line each, notices, and the confirmation dialog.

// An element: el('td', {class: 'x', 'data-label': 'Name'}, 'text', childNode, ...). Strings become
// text nodes; attributes starting with "on" become listeners.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'value') node.value = value;
    else if (key === 'checked') node.checked = !!value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Replaces the content of `node` by `children`.
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export function main() {
  return document.getElementById('main');
}

// Shows the page: a heading and content; moves focus to the page for screen readers.
export function page(title, ...children) {
  document.title = `${title} · mailu-git admin`;
  replace(main(), el('h1', {}, title), ...children);
}

// A message at the top of the page. kind: 'ok', 'error' or 'info'. Returns the paragraph, whose
// text later steps (the version a change became) may update.
export function notice(text, kind = 'info') {
  const box = document.getElementById('notice');
  const p = el('p', { class: kind, role: kind === 'error' ? 'alert' : null }, text);
  replace(box, p);
  // It outlives the next page change (a create goes back to the list), not the one after.
  box.dataset.fresh = '1';
  return p;
}

// Called on each page change: a notice shown before the previous change goes away.
export function ageNotice() {
  const box = document.getElementById('notice');
  if (box.dataset.fresh) delete box.dataset.fresh;
  else replace(box);
}

// Asks before a destructive action; resolves true when confirmed.
export function confirmAction(text, okLabel = 'Confirm') {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.returnValue = 'cancel';
    dialog.showModal();
    document.getElementById('confirm-cancel').focus();
  });
}

let idCounter = 0;
function fieldId(name) {
  idCounter += 1;
  return `f-${name.replace(/[^a-zA-Z0-9_-]/g, '_')}-${idCounter}`;
}

// One labelled input of a form. spec: {name, label, type, help, options, required, readonly}.
// Types: text, password, number, checkbox, textarea, list (one value per line), date, select, json.
// Returns {node, get(), set(value), setError(message), input}.
export function field(spec, value) {
  const id = fieldId(spec.name);
  const errId = `${id}-err`;
  const helpId = spec.help ? `${id}-help` : null;
  const describedBy = [helpId, errId].filter(Boolean).join(' ');
  const common = { id, name: spec.name, 'aria-describedby': describedBy, required: spec.required,
    readonly: spec.readonly, autocomplete: spec.type === 'password' ? 'new-password' : 'off' };
  let input;
  switch (spec.type) {
    case 'checkbox':
      input = el('input', { ...common, type: 'checkbox', autocomplete: null });
      break;
    case 'textarea': case 'list': case 'json':
      input = el('textarea', { ...common, class: spec.type === 'json' || spec.code ? 'code' : null,
        spellcheck: 'false' });
      break;
    case 'select':
      input = el('select', common, (spec.options || []).map((o) => el('option', { value: o }, o)));
      break;
    default:
      input = el('input', { ...common, type: spec.type || 'text',
        inputmode: spec.type === 'number' ? 'numeric' : null });
  }
  const error = el('p', { class: 'field-error', id: errId, 'aria-live': 'polite' });
  const label = el('label', { for: id }, spec.label || spec.name);
  const help = spec.help ? el('p', { class: 'help', id: helpId }, spec.help) : null;
  const node = spec.type === 'checkbox'
    ? el('div', { class: 'field check' }, input, ' ', label, help, error)
    : el('div', { class: 'field' }, label, input, help, error);
  const api = {
    node, input, spec,
    get() {
      switch (spec.type) {
        case 'checkbox': return input.checked;
        case 'number': return input.value.trim() === '' ? null : Number(input.value);
        case 'list': return input.value.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
        case 'json': return JSON.parse(input.value || 'null');
        case 'date': return input.value || null;
        default: return input.value;
      }
    },
    set(v) {
      if (spec.type === 'checkbox') input.checked = !!v;
      else if (spec.type === 'list') input.value = (v || []).join('\n');
      else if (spec.type === 'json') input.value = v === undefined ? '' : JSON.stringify(v, null, 2);
      else input.value = v === undefined || v === null ? '' : String(v);
    },
    setError(message) {
      error.textContent = message || '';
      if (message) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    },
  };
  if (value !== undefined) api.set(value);
  return api;
}

// A form of fields. onSubmit(form) runs on submit; returns {node, fields, values(), setErrors(errors)}.
export function form(specs, values, { submitLabel = 'Save', onSubmit, extraButtons = [] } = {}) {
  const fields = specs.map((s) => field(s, values ? values[s.name] : s.default));
  const formError = el('div', { class: 'form-error', 'aria-live': 'assertive' });
  const submit = el('button', { type: 'submit' }, submitLabel);
  const node = el('form', { class: 'edit', novalidate: true },
    formError, fields.map((f) => f.node), el('div', { class: 'buttons' }, submit, extraButtons));
  const result = {
    node, fields, formError, submit,
    field(name) { return fields.find((f) => f.spec.name === name); },
    values() {
      const out = {};
      for (const f of fields) out[f.spec.name] = f.get();
      return out;
    },
    // Puts each error of the API at its field (`destination.0` at `destination`); the rest, and the
    // message, above the form. Returns the first field with an error, focused.
    showError(err) {
      for (const f of fields) f.setError('');
      const rest = [];
      let first = null;
      for (const [key, message] of Object.entries((err && err.errors) || {})) {
        const target = fields.find((f) => f.spec.name === key)
          || fields.find((f) => key.startsWith(`${f.spec.name}.`) || key.startsWith(`${f.spec.name}[`));
        if (target) {
          const suffix = key === target.spec.name ? '' : ` (${key})`;
          target.setError(`${message}${suffix}`);
          first = first || target;
        } else rest.push(`${key}: ${message}`);
      }
      replace(formError, err ? el('p', { class: 'error', role: 'alert' }, err.message,
        rest.length ? el('ul', {}, rest.map((r) => el('li', {}, r))) : null) : null);
      if (first) first.input.focus();
      return first;
    },
  };
  node.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      await onSubmit(result);
    } finally {
      submit.disabled = false;
    }
  });
  return result;
}

// A table: columns [{label, value(row) -> string|Node}], rows; responsive at phone width.
export function table(columns, rows, caption) {
  return el('div', { class: 'scroll' }, el('table', { class: 'responsive' },
    caption ? el('caption', { class: 'skip' }, caption) : null,
    el('thead', {}, el('tr', {}, columns.map((c) => el('th', { scope: 'col' }, c.label)))),
    el('tbody', {}, rows.length === 0
      ? el('tr', {}, el('td', { colspan: columns.length }, 'Nothing here yet.'))
      : rows.map((row) => el('tr', {}, columns.map((c) => el('td',
        { 'data-label': c.label, class: c.actions ? 'actions' : null }, c.value(row)))))),
  ));
}

// A definition list of [label, value] pairs.
export function kv(pairs) {
  return el('dl', { class: 'kv' }, pairs.flatMap(([k, v]) => [el('dt', {}, k),
    el('dd', {}, v === undefined || v === null || v === '' ? '—' : v)]));
}

export function link(href, text, attrs = {}) {
  return el('a', { href, ...attrs }, text);
}

export function button(text, onclick, kind = 'secondary', attrs = {}) {
  return el('button', { type: 'button', class: kind, onclick, ...attrs }, text);
}

// Seconds as "3 s", "4 min", "2 h", "5 days".
export function duration(seconds) {
  const s = Math.round(seconds);
  if (Math.abs(s) < 120) return `${s} s`;
  if (Math.abs(s) < 7200) return `${Math.round(s / 60)} min`;
  if (Math.abs(s) < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

export function time(unixSeconds) {
  if (!unixSeconds) return '—';
  return new Date(unixSeconds * 1000).toLocaleString();
}
