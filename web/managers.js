// Domain managers: users who may manage a domain (in Mailu's own UI; their sign-in here comes later).

import { api, seg, tracked } from './api.js';
import { button, confirmAction, el, form, notice, page, table } from './dom.js';

export async function render(args) {
  const domains = (await api('domain')).data.map((d) => d.name);
  const domain = args[0] ? decodeURIComponent(args[0]) : domains[0];
  const select = el('select', { id: 'manager-domain', name: 'domain', onchange: (e) => {
    location.hash = `#/managers/${encodeURIComponent(e.target.value)}`;
  } }, domains.map((d) => el('option', { value: d, selected: d === domain }, d)));
  const picker = el('div', { class: 'toolbar' }, el('div', { class: 'field' },
    el('label', { for: select.id }, 'Domain'), select));
  if (!domain) {
    page('Domain managers', el('p', {}, 'There is no domain yet: create one first.'));
    return;
  }
  const reply = await api(`domain/${seg(domain)}/manager`);
  const managers = reply.data.managers || [];
  const rows = managers.map((email) => ({ email }));
  const again = () => render([encodeURIComponent(domain)]);
  const add = form([{ name: 'user_email', label: 'User address to make a manager', required: true }], {}, {
    submitLabel: 'Add manager',
    onSubmit: async (f) => {
      try {
        const saved = await api(`domain/${seg(domain)}/manager`, { method: 'POST', body: f.values() });
        await tracked(saved, 'manager added');
        again();
      } catch (err) {
        f.showError(err);
      }
    },
  });
  page('Domain managers', picker, table([
    { label: 'Manager', value: (r) => r.email },
    { label: 'Actions', actions: true, value: (r) => button('Remove', async () => {
      if (!(await confirmAction(`Remove ${r.email} from the managers of ${domain}?`, 'Remove'))) return;
      try {
        const saved = await api(`domain/${seg(domain)}/manager/${seg(r.email)}`, { method: 'DELETE' });
        await tracked(saved, 'manager removed');
        again();
      } catch (err) {
        notice(err.message, 'error');
      }
    }, 'danger', { 'aria-label': `Remove manager ${r.email}` }) },
  ], rows, 'Managers'), el('h2', {}, 'Add a manager'), add.node);
}
