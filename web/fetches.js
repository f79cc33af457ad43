// Fetched accounts: remote mailboxes whose mail is fetched into a user's mailbox.

import { resourcePage } from './resource.js';

const spec = {
  title: 'Fetched accounts', route: 'fetches', noun: 'fetched account', plural: 'fetched accounts',
  path: 'fetch', key: 'id',
  defaults: { protocol: 'imap', tls: true, keep: true },
  columns: [
    { label: 'User', value: (f) => f.email },
    { label: 'Remote', value: (f) => `${f.protocol}://${f.username}@${f.host}:${f.port}` },
    { label: 'Comment', value: (f) => f.comment },
  ],
  fields: [
    { name: 'id', label: 'Id', key: true, editOnly: true },
    { name: 'email', label: 'User address', required: true, createOnly: true },
    { name: 'protocol', label: 'Protocol', type: 'select', options: ['imap', 'pop3'] },
    { name: 'host', label: 'Remote host', required: true },
    { name: 'port', label: 'Port', type: 'number', help: 'empty: 993 for IMAP, 995 for POP3' },
    { name: 'tls', label: 'Use TLS', type: 'checkbox' },
    { name: 'username', label: 'Remote user name', required: true },
    { name: 'password', label: 'Remote password', type: 'password', required: true,
      help: 'Write-only. When editing: leave empty to keep it' },
    { name: 'keep', label: 'Keep mail on the remote server', type: 'checkbox' },
    { name: 'scan', label: 'Scan fetched mail', type: 'checkbox' },
    { name: 'invisible', label: 'Invisible (no Received header)', type: 'checkbox' },
    { name: 'folders', label: 'Folders (one per line)', type: 'list' },
    { name: 'comment', label: 'Comment' },
  ],
};

export const render = (args, query) => resourcePage(spec, args, query);
