// History: the versions with who and what, a diff per service between any two versions, revert
// (confirmed), suspend and resume of deployment, and cleanup of old versions with its report.

import { api, seg } from './api.js';
import { button, confirmAction, el, kv, link, notice, page, replace, table, time } from './dom.js';

const PAGE = 20;

function flags(v) {
  return [v.head ? el('span', { class: 'tag' }, 'main') : null,
    v.deployed ? el('span', { class: 'tag good' }, 'deployed') : null,
    v.held ? el('span', { class: 'tag bad' }, 'held') : null,
    (v.tags || []).map((t) => el('span', { class: 'tag' }, `tag ${t}`))];
}

export async function render(args, query) {
  if (args[0] === 'diff') return diffView(query);
  const offset = Number(query.get('offset') || 0);
  const q = query.get('q') || '';
  const [list, status] = await Promise.all([
    api(`version?limit=${PAGE}&offset=${offset}&q=${encodeURIComponent(q)}`), api('status')]);
  const versions = list.data;
  const total = list.total || versions.length;
  const held = status.data.deployed && status.data.deployed.held;

  const search = el('input', { type: 'search', id: 'history-q', name: 'q', value: q });
  const searchForm = el('form', { class: 'toolbar', role: 'search', onsubmit: (e) => {
    e.preventDefault();
    location.hash = `#/history?q=${encodeURIComponent(search.value)}`;
  } }, el('div', { class: 'field' }, el('label', { for: 'history-q' }, 'Search summaries and authors'), search),
  el('button', { type: 'submit', class: 'secondary' }, 'Search'));

  // Any two versions, not only those of this page: numbers, the two newest by default.
  const newest = versions.length ? versions[0].number : 1;
  const fromSel = el('input', { type: 'number', id: 'diff-from', name: 'from', min: 1,
    value: String(Math.max(1, newest - 1)) });
  const toSel = el('input', { type: 'number', id: 'diff-to', name: 'to', min: 1, value: String(newest) });
  const services = (await api('service')).data.map((s) => s.name);
  const svcSel = el('select', { id: 'diff-service', name: 'service' }, el('option', { value: '' }, 'every file'),
    services.map((s) => el('option', { value: s }, `rendered files of ${s} only`)));
  const diffForm = el('form', { class: 'toolbar', onsubmit: (e) => {
    e.preventDefault();
    location.hash = `#/history/diff?from=${fromSel.value}&to=${toSel.value}&service=${encodeURIComponent(svcSel.value)}`;
  } },
  el('div', { class: 'field' }, el('label', { for: 'diff-from' }, 'From version'), fromSel),
  el('div', { class: 'field' }, el('label', { for: 'diff-to' }, 'To version'), toSel),
  el('div', { class: 'field' }, el('label', { for: 'diff-service' }, 'Files'), svcSel),
  el('button', { type: 'submit' }, 'Show the diff'));

  const deployState = held
    ? el('p', {}, `Deployment is suspended: version ${status.data.deployed.version} stays deployed `
      + `since ${time(status.data.deployed.held_since)}; newer versions wait. `,
    button('Resume deployment', () => hold('resume')))
    : el('p', {}, `Deployment follows main (version ${status.data.deployed ? status.data.deployed.version : '?'} `
      + 'deployed). ', button('Suspend deployment', () => hold('suspend'), 'danger'));

  page('History', deployState, searchForm, table([
    { label: 'Version', value: (v) => [String(v.number), ' ', flags(v)] },
    { label: 'When', value: (v) => time(v.time) },
    { label: 'Who', value: (v) => (v.authors || []).join(', ') },
    { label: 'What', value: (v) => v.summary },
    { label: 'Services', value: (v) => (v.services || []).join(', ') },
    { label: 'Actions', actions: true, value: (v) => [
      v.number > 1 ? link(`#/history/diff?from=${v.number - 1}&to=${v.number}`,
        'Diff', { 'aria-label': `Diff of version ${v.number}` }) : null, ' ',
      v.head ? null : button('Revert to this', () => revert(v), 'danger',
        { 'aria-label': `Revert to version ${v.number}` })] },
  ], versions, 'Versions'),
  el('div', { class: 'pager' },
    el('span', {}, `${offset + 1}–${offset + versions.length} of ${total}`),
    offset > 0 ? link(`#/history?q=${encodeURIComponent(q)}&offset=${Math.max(0, offset - PAGE)}`, 'Newer') : null,
    offset + PAGE < total ? link(`#/history?q=${encodeURIComponent(q)}&offset=${offset + PAGE}`, 'Older') : null),
  el('h2', {}, 'Compare two versions'), diffForm,
  el('h2', {}, 'Clean up old versions'),
  el('p', {}, 'Removes versions older than the [history] settings keep (tagged ones stay).'),
  button('Clean up now', cleanup, 'danger'),
  el('div', { id: 'cleanup-report' }));
}

async function revert(v) {
  const ok = await confirmAction(`Revert the configuration to version ${v.number} (“${v.summary}”)? `
    + 'This makes a new version with its files; nothing is lost, and it can itself be reverted.',
  `Revert to version ${v.number}`);
  if (!ok) return;
  try {
    const r = (await api(`version/${v.number}/revert`, { method: 'POST' })).data;
    notice(`Reverted to version ${r.reverted_to.number}: it became version ${r.number}`
      + `${r.deployed ? ' and is deployed' : ' (deployment is suspended: not deployed yet)'}.`, 'ok');
    window.dispatchEvent(new Event('mailu-git-changed'));
    render([], new URLSearchParams());
  } catch (err) {
    notice(`Not reverted. ${err.message}`, 'error');
  }
}

async function hold(action) {
  if (action === 'suspend' && !(await confirmAction('Suspend deployment? The deployed version stays '
    + 'as it is; changes still become versions but are not deployed until you resume.', 'Suspend'))) return;
  try {
    const r = (await api(action, { method: 'POST' })).data;
    notice(r.message, 'ok');
    render([], new URLSearchParams());
  } catch (err) {
    notice(err.message, 'error');
  }
}

async function cleanup() {
  if (!(await confirmAction('Clean up old versions now? Versions past the [history] limits are removed '
    + 'for good (tagged versions stay).', 'Clean up'))) return;
  const box = document.getElementById('cleanup-report');
  replace(box, el('p', {}, 'Cleaning up…'));
  try {
    const r = (await api('gc', { method: 'POST' })).data;
    const removed = r.removed ? `versions ${r.removed.first}–${r.removed.last} (${r.removed.commits} commits)` : 'none';
    const size = (x) => (x ? `${x.objects} objects, ${x.bytes} bytes` : '—');
    replace(box, el('h2', {}, 'Cleanup report'), kv([['Outcome', r.outcome], ['Removed', removed],
      ['Before', size(r.before)], ['After', size(r.after)],
      ['Refs moved', r.refs_moved === undefined ? '—' : JSON.stringify(r.refs_moved)]]));
    notice(`Cleanup: ${r.outcome}.`, 'ok');
  } catch (err) {
    replace(box);
    notice(`Cleanup did not run. ${err.message}`, 'error');
  }
}

// One diff line classed by its first character, as text.
function diffLines(text) {
  return el('pre', { class: 'diff' }, text.split('\n').map((line) => el('span', {
    class: line.startsWith('+') && !line.startsWith('+++') ? 'diff-add'
      : line.startsWith('-') && !line.startsWith('---') ? 'diff-del' : null }, `${line}\n`)));
}

async function diffView(query) {
  const from = query.get('from');
  const to = query.get('to');
  const service = query.get('service') || '';
  const pageNo = Number(query.get('page') || 1);
  const d = (await api(`version/${seg(from)}/diff/${seg(to)}?page=${pageNo}`
    + `${service ? `&service=${encodeURIComponent(service)}` : ''}`)).data;
  const files = d.files.map((f) => el('section', { class: 'card' },
    el('h2', {}, `${f.path} `, el('span', { class: 'tag' }, f.kind),
      f.service ? el('span', { class: 'tag' }, f.service) : null),
    f.note ? el('p', {}, f.note) : null,
    f.diff ? diffLines(f.diff) : null,
    f.truncated ? el('p', {}, 'The diff of this file is longer than shown here.') : null));
  const base = `#/history/diff?from=${from}&to=${to}&service=${encodeURIComponent(service)}`;
  page(`Diff of version ${d.from.number} → ${d.to.number}${service ? ` (${service})` : ''}`,
    el('p', {}, `${d.total_files} file(s) changed. `, link('#/history', 'Back to the history')),
    files.length ? files : el('p', {}, 'No file differs.'),
    el('div', { class: 'pager' }, el('span', {}, `Page ${d.page} of ${Math.max(1, d.pages)}`),
      d.page > 1 ? link(`${base}&page=${d.page - 1}`, 'Previous page') : null,
      d.page < d.pages ? link(`${base}&page=${d.page + 1}`, 'Next page') : null));
}
