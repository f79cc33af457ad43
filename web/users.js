// Users (mailboxes), every field of Mailu's user resource.

import { resourcePage } from './resource.js';

const spec = {
  title: 'Users', route: 'users', noun: 'user', plural: 'users', path: 'user', key: 'email',
  serverPaging: true,
  deleteWarning: 'Its app tokens and fetched accounts go with it; its mail stays on disk.',
  columns: [
    { label: 'Address', value: (u) => u.email },
    { label: 'Name', value: (u) => u.displayed_name },
    { label: 'Enabled', value: (u) => (u.enabled ? 'yes' : 'no') },
    { label: 'Quota', value: (u) => (u.quota_bytes ? `${u.quota_bytes} bytes` : 'none') },
    { label: 'Comment', value: (u) => u.comment },
  ],
  defaults: { enabled: true, enable_imap: true, enable_pop: true, spam_enabled: true, spam_threshold: 80 },
  fields: [
    { name: 'email', label: 'Address', key: true, help: 'name@domain; the domain must exist' },
    { name: 'raw_password', label: 'Password', type: 'password', required: true,
      help: 'When editing: leave empty to keep the current password' },
    { name: 'displayed_name', label: 'Displayed name' },
    { name: 'comment', label: 'Comment' },
    { name: 'quota_bytes', label: 'Quota (bytes)', type: 'number', help: '0 for no quota' },
    { name: 'enabled', label: 'Enabled', type: 'checkbox' },
    { name: 'global_admin', label: 'Global administrator', type: 'checkbox' },
    { name: 'change_pw_next_login', label: 'Must change the password at next login', type: 'checkbox' },
    { name: 'enable_imap', label: 'IMAP allowed', type: 'checkbox' },
    { name: 'enable_pop', label: 'POP3 allowed', type: 'checkbox' },
    { name: 'allow_spoofing', label: 'May send as any address', type: 'checkbox' },
    { name: 'forward_enabled', label: 'Forward mail', type: 'checkbox' },
    { name: 'forward_destination', label: 'Forward to (one address per line)', type: 'list' },
    { name: 'forward_keep', label: 'Keep a copy of forwarded mail', type: 'checkbox' },
    { name: 'reply_enabled', label: 'Automatic reply', type: 'checkbox' },
    { name: 'reply_subject', label: 'Reply subject' },
    { name: 'reply_body', label: 'Reply body', type: 'textarea' },
    { name: 'reply_startdate', label: 'Reply from (date)', type: 'date' },
    { name: 'reply_enddate', label: 'Reply until (date)', type: 'date' },
    { name: 'spam_enabled', label: 'Spam filter', type: 'checkbox' },
    { name: 'spam_mark_as_read', label: 'Mark spam as read', type: 'checkbox' },
    { name: 'spam_threshold', label: 'Spam threshold (0–100)', type: 'number' },
  ],
};

export const render = (args, query) => resourcePage(spec, args, query);
