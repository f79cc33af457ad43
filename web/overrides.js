// Overrides per service: the three trees of files an operator changes (docs/api.md, "Overrides"):
// `override` (a container's file, whole), `template` (a built-in template replaced), and
// `mailu-override` (Mailu's overrides/ folder). List, view, create, edit (If-Match) and delete.

import { api, seg, tracked } from './api.js';
import { button, confirmAction, el, form, link, notice, page, table } from './dom.js';

const TREES = {
  override: 'Files of a container, replaced whole (absolute path, e.g. /etc/postfix/header_checks)',
  template: "Templates replacing a built-in one (its name, e.g. main.cf.j2)",
  'mailu-override': "Mailu's overrides folder (e.g. postfix/postfix.cf)",
};

// The API path of a tree's listing and of one of its files; each path segment encoded.
function listPath(tree, service) {
  return tree === 'mailu-override' ? 'mailu-override' : `${tree}/${seg(service)}`;
}
function filePath(tree, service, path) {
  const segments = path.split('/').filter(Boolean).map(seg).join('/');
  return `${listPath(tree, service)}/${segments}`;
}

export async function render(args, query) {
  const services = (await api('service')).data.map((s) => s.name);
  const tree = TREES[args[0]] ? args[0] : 'override';
  const service = args[1] ? decodeURIComponent(args[1]) : services[0];
  const treeSelect = el('select', { id: 'ov-tree', name: 'tree' },
    Object.keys(TREES).map((t) => el('option', { value: t, selected: t === tree }, t)));
  const serviceSelect = el('select', { id: 'ov-service', name: 'service', disabled: tree === 'mailu-override' },
    services.map((s) => el('option', { value: s, selected: s === service }, s)));
  const go = () => {
    location.hash = `#/overrides/${treeSelect.value}/${encodeURIComponent(serviceSelect.value)}`;
  };
  treeSelect.addEventListener('change', go);
  serviceSelect.addEventListener('change', go);
  const picker = el('div', { class: 'toolbar' },
    el('div', { class: 'field' }, el('label', { for: 'ov-tree' }, 'Tree'), treeSelect),
    el('div', { class: 'field' }, el('label', { for: 'ov-service' }, 'Service'), serviceSelect));
  if (query.get('path') !== null) return fileView(tree, service, query.get('path'), picker);
  if (query.get('new') !== null) return newView(tree, service, picker);
  const files = (await api(listPath(tree, service))).data;
  const base = `#/overrides/${tree}/${encodeURIComponent(service)}`;
  return page('Overrides', el('p', {}, TREES[tree]), picker,
    el('p', {}, link(`${base}?new=1`, 'New file', { class: 'button' })),
    table([
      { label: 'File', value: (f) => f.path },
      { label: 'Actions', actions: true, value: (f) => [
        link(`${base}?path=${encodeURIComponent(f.path)}`, 'View / edit', { 'aria-label': `View ${f.path}` }), ' ',
        button('Delete', () => remove(tree, service, f.path, f.etag, () => render(args, query)), 'danger',
          { 'aria-label': `Delete ${f.path}` })] },
    ], files, 'Override files'));
}

async function remove(tree, service, path, etag, after) {
  if (!(await confirmAction(`Delete ${tree} file ${path}? The built-in file applies again.`, 'Delete file'))) return;
  try {
    await tracked(await api(filePath(tree, service, path), { method: 'DELETE', ifMatch: etag }),
      `${path} deleted`);
    after();
  } catch (err) {
    notice(`${path} was not deleted. ${err.message}`, 'error');
  }
}

function newView(tree, service, picker) {
  const f = form([
    { name: 'path', label: tree === 'override' ? 'Absolute path in the container'
      : tree === 'template' ? 'Template name' : 'Folder and file (postfix/postfix.cf)', required: true },
    { name: 'body', label: 'Content', type: 'textarea', code: true },
  ], {}, {
    submitLabel: 'Create file',
    onSubmit: async (fa) => {
      const { path, body } = fa.values();
      try {
        await tracked(await api(filePath(tree, service, path), { method: 'PUT', raw: body,
          headers: { 'Content-Type': 'text/plain' } }), `${path} created`);
        location.hash = `#/overrides/${tree}/${encodeURIComponent(service)}?path=${encodeURIComponent(path)}`;
      } catch (err) {
        fa.showError(err.errors && err.errors.file ? { ...err, errors: { path: err.errors.file } } : err);
      }
    },
  });
  page('New override file', picker, f.node);
}

async function fileView(tree, service, path, picker) {
  const reply = await api(filePath(tree, service, path));
  let etag = reply.etag;
  // Overrides may hold any bytes; a body that is not UTF-8 is not edited here.
  const binary = typeof reply.data !== 'string' || reply.data.includes('\uFFFD');
  const back = link(`#/overrides/${tree}/${encodeURIComponent(service)}`, 'Back to the list',
    { class: 'button secondary' });
  if (binary) {
    page(`File ${path}`, picker, el('p', {}, 'This file is binary; replace it with the CLI '
      + '(mailu-git override put).'), back);
    return;
  }
  const f = form([{ name: 'body', label: `Content of ${path}`, type: 'textarea', code: true }],
    { body: reply.data }, {
      submitLabel: 'Save file',
      extraButtons: [button('Delete file', () => remove(tree, service, path, etag,
        () => { location.hash = `#/overrides/${tree}/${encodeURIComponent(service)}`; }), 'danger'), back],
      onSubmit: async (fa) => {
        try {
          await tracked(await api(filePath(tree, service, path), { method: 'PUT', raw: fa.values().body,
            ifMatch: etag, headers: { 'Content-Type': 'text/plain' } }), `${path} saved`);
          fa.showError(null);
          etag = (await api(filePath(tree, service, path))).etag;
        } catch (err) {
          fa.showError(err);
          if (err.status === 412) {
            fa.formError.append(el('div', { class: 'buttons' },
              button('Reload the current file (discards your edits)', () => fileView(tree, service, path, picker))));
          }
        }
      },
    });
  page(`File ${path}`, picker, el('p', {}, `${tree} of ${tree === 'mailu-override' ? 'Mailu' : service}`), f.node);
}
