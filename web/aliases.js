// Aliases: addresses that forward to other addresses.

import { resourcePage } from './resource.js';

const spec = {
  title: 'Aliases', route: 'aliases', noun: 'alias', plural: 'aliases', path: 'alias', key: 'email',
  serverPaging: true,
  columns: [
    { label: 'Address', value: (a) => a.email },
    { label: 'Destinations', value: (a) => (a.destination || []).join(', ') },
    { label: 'Disabled', value: (a) => (a.disabled ? 'yes' : 'no') },
    { label: 'Comment', value: (a) => a.comment },
  ],
  fields: [
    { name: 'email', label: 'Alias address', key: true },
    { name: 'destination', label: 'Destinations (one address per line)', type: 'list', required: true },
    { name: 'comment', label: 'Comment' },
    { name: 'wildcard', label: 'Wildcard (SQL LIKE pattern with % and _)', type: 'checkbox' },
    { name: 'hostname', label: 'Website (anonymous aliases)', help: 'optional: the site this alias was made for' },
    { name: 'disabled', label: 'Disabled', type: 'checkbox' },
  ],
};

export const render = (args, query) => resourcePage(spec, args, query);
