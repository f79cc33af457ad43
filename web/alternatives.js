// Alternative domain names: another name for a domain's mailboxes (no edit, as in Mailu).

import { resourcePage } from './resource.js';

const spec = {
  title: 'Alternative domains', route: 'alternatives', noun: 'alternative', plural: 'alternatives',
  path: 'alternative', key: 'name', edit: false,
  columns: [
    { label: 'Name', value: (a) => a.name },
    { label: 'Domain', value: (a) => a.domain },
  ],
  fields: [
    { name: 'name', label: 'Alternative name', key: true },
    { name: 'domain', label: 'Domain it stands for', required: true },
  ],
};

export const render = (args, query) => resourcePage(spec, args, query);
