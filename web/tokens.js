// Users' app tokens (mail client passwords; not the API's access tokens). The token itself is
// shown once, when it is created.

import { el } from './dom.js';
import { resourcePage } from './resource.js';

const spec = {
  title: 'User tokens', route: 'tokens', noun: 'token', plural: 'tokens', path: 'token', key: 'id',
  intro: "App passwords of users' mail clients. The token is shown once, when it is created.",
  columns: [
    { label: 'Id', value: (t) => t.id },
    { label: 'User', value: (t) => t.email },
    { label: 'Comment', value: (t) => t.comment },
    { label: 'Authorized networks', value: (t) => (t.AuthorizedIP || []).join(', ') },
    { label: 'Created', value: (t) => t.Created || '' },
  ],
  fields: [
    { name: 'id', label: 'Id', key: true, editOnly: true },
    { name: 'email', label: 'User address', required: true, createOnly: true },
    { name: 'comment', label: 'Comment' },
    { name: 'AuthorizedIP', label: 'Authorized networks (one per line; empty: any)', type: 'list' },
  ],
  afterCreate: (reply, p) => {
    p.append(' ', el('span', {}, 'The new token (copy it now, it is not shown again): '),
      el('code', { id: 'new-token' }, reply.data.token));
  },
};

export const render = (args, query) => resourcePage(spec, args, query);
