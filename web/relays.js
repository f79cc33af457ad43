// Relayed domains: mail for them is sent on to another server.

import { resourcePage } from './resource.js';

const spec = {
  title: 'Relayed domains', route: 'relays', noun: 'relay', plural: 'relays', path: 'relay', key: 'name',
  serverPaging: true,
  columns: [
    { label: 'Name', value: (r) => r.name },
    { label: 'Remote server', value: (r) => r.smtp || "the domain's own MX" },
    { label: 'Comment', value: (r) => r.comment },
  ],
  fields: [
    { name: 'name', label: 'Relayed domain', key: true },
    { name: 'smtp', label: 'Remote SMTP server', help: "host or host:port; empty for the domain's MX" },
    { name: 'comment', label: 'Comment' },
  ],
};

export const render = (args, query) => resourcePage(spec, args, query);
