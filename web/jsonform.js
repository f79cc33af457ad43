// A form for a JSON document (the settings, a service): one labelled input per scalar or list, one
// fieldset per table, and JSON text for the tables given as `asJson`. What is saved is the JSON merge
// patch (RFC 7396) between the document as loaded and as edited, so only changed keys are sent.

import { el, field } from './dom.js';

function specFor(path, value, asJson) {
  const name = path.join('.');
  const label = path[path.length - 1];
  if (asJson(path, value)) return { name, label: `${label} (JSON)`, type: 'json' };
  if (typeof value === 'boolean') return { name, label, type: 'checkbox' };
  if (typeof value === 'number') return { name, label, type: 'number' };
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
    return { name, label: `${label} (one per line)`, type: 'list' };
  }
  if (Array.isArray(value) || (value !== null && typeof value === 'object')) {
    return { name, label: `${label} (JSON)`, type: 'json' };
  }
  return { name, label, type: 'text' };
}

// Builds the inputs of `doc` into a fieldset tree; returns {node, fields, value()}.
export function jsonFields(doc, { asJson = () => false, skip = [] } = {}) {
  const fields = [];
  function build(obj, path) {
    const children = [];
    for (const [key, value] of Object.entries(obj)) {
      const p = [...path, key];
      if (skip.includes(p.join('.'))) continue;
      const isTable = value !== null && typeof value === 'object' && !Array.isArray(value);
      if (isTable && !asJson(p, value)) {
        children.push(el('fieldset', {}, el('legend', {}, p.join('.')), build(value, p)));
      } else {
        const f = field(specFor(p, value, asJson), value);
        f.path = p;
        fields.push(f);
        children.push(f.node);
      }
    }
    return children;
  }
  const node = el('div', {}, build(doc, []));
  return {
    node, fields,
    // The edited document (throws on JSON that does not parse, naming the field).
    value() {
      const out = structuredClone(doc);
      for (const f of fields) {
        let v;
        try {
          v = f.get();
        } catch (e) {
          const err = new Error(`${f.spec.name}: not valid JSON (${e.message})`);
          err.errors = { [f.spec.name]: `not valid JSON (${e.message})` };
          throw err;
        }
        let target = out;
        for (const k of f.path.slice(0, -1)) target = target[k];
        const last = f.path[f.path.length - 1];
        // An unset optional value stays unset when its input is left empty.
        target[last] = v === '' && target[last] === null ? null : v;
      }
      return out;
    },
  };
}

// The merge patch turning `before` into `after` (null removes a key); undefined when equal.
export function mergePatch(before, after) {
  const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObj(before) || !isObj(after)) {
    return JSON.stringify(before) === JSON.stringify(after) ? undefined : after;
  }
  const patch = {};
  for (const key of Object.keys(after)) {
    const d = mergePatch(before[key], after[key]);
    if (d !== undefined) patch[key] = d;
  }
  for (const key of Object.keys(before)) if (!(key in after)) patch[key] = null;
  return Object.keys(patch).length ? patch : undefined;
}
