// Domains: Mailu's domain resource, with the DNS records each domain needs.

import { el, kv } from './dom.js';
import { resourcePage } from './resource.js';

export const DNS = ['dns_mx', 'dns_spf', 'dns_dkim', 'dns_dmarc', 'dns_dmarc_report', 'dns_autoconfig',
  'dns_tlsa'];

// The dns_* records of a domain, as text (a list for the multi-record ones).
export function dnsRecords(domain) {
  return kv(DNS.map((name) => {
    const value = domain[name];
    if (value === null || value === undefined) return [name, 'not needed (or no DKIM key yet)'];
    const lines = Array.isArray(value) ? value : [value];
    return [name, el('pre', { class: 'wrap' }, lines.join('\n'))];
  }));
}

const spec = {
  title: 'Domains', route: 'domains', noun: 'domain', plural: 'domains', path: 'domain', key: 'name',
  serverPaging: true,
  deleteWarning: 'Its users, aliases and alternatives are deleted with it.',
  columns: [
    { label: 'Name', value: (d) => d.name },
    { label: 'Comment', value: (d) => d.comment },
    { label: 'Max users', value: (d) => (d.max_users < 0 ? 'no limit' : d.max_users) },
    { label: 'Alternatives', value: (d) => (d.alternatives || []).join(', ') },
  ],
  fields: [
    { name: 'name', label: 'Domain name', key: true, help: 'e.g. example.com (Unicode or punycode)' },
    { name: 'comment', label: 'Comment' },
    { name: 'max_users', label: 'Maximum users', type: 'number', help: '-1 for no limit' },
    { name: 'max_aliases', label: 'Maximum aliases', type: 'number', help: '-1 for no limit' },
    { name: 'max_quota_bytes', label: 'Maximum quota per user (bytes)', type: 'number',
      help: '0 for no limit' },
    { name: 'signup_enabled', label: 'Users may sign up', type: 'checkbox' },
    { name: 'alternatives', label: 'Alternative names (one per line)', type: 'list', createOnly: true,
      help: 'Add more later on the Alternatives page' },
  ],
  detail: (d) => [el('h2', {}, 'Managers'), el('p', {}, (d.managers || []).join(', ') || 'none'),
    el('h2', {}, 'DNS records this domain needs'), dnsRecords(d)],
};

export const render = (args, query) => resourcePage(spec, args, query);
