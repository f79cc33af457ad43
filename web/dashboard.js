// The dashboard: the example values that keep the configuration from deploying (linking to the
// first run), what needs attention, versions (main, deployed, held), what is pending, the deploy
// state per service, the certificate, and the DNS records every domain needs.

import { api } from './api.js';
import { duration, el, kv, page, table, time } from './dom.js';
import { dnsRecords } from './domains.js';
import { blocked, blockedCard } from './firstrun.js';

export async function render() {
  const [status, services, domains, notDeployable] = await Promise.all([api('status'), api('service'),
    api('domain'), blocked()]);
  const s = status.data;
  const deployed = s.deployed || {};
  const versions = el('section', { class: 'card', 'aria-labelledby': 'dash-versions' },
    el('h2', { id: 'dash-versions' }, 'Versions'),
    kv([
      ['Main', `version ${s.main.version} (${time(s.main.time)})`],
      ['Deployed', `version ${deployed.version}`],
      ['Held', deployed.held ? `yes, since ${time(deployed.held_since)}` : 'no'],
      ['Versions ahead of deployed', s.versions_ahead === undefined ? 'deployed is not on main' : s.versions_ahead],
      ['Pending changes (journal)', s.journal.pending ? `${s.journal.pending}, next version in `
        + `${duration((s.journal.next_version_due_ms || 0) / 1000)}` : '0'],
      ['Writes', s.writable.ok ? 'accepted' : `suspended: ${s.writable.reason}`],
    ]));
  const cert = s.certificate;
  const certificate = el('section', { class: 'card', 'aria-labelledby': 'dash-cert' },
    el('h2', { id: 'dash-cert' }, 'Certificate'),
    cert ? kv([
      ['Names', (cert.hostnames || []).join(', ')],
      ['Issuer', cert.issuer],
      ['Expires', `${cert.not_after} (in ${duration(cert.expires_in || 0)})`],
      ['Last renewal error', cert.renewal && cert.renewal.error ? cert.renewal.error : 'none'],
    ]) : el('p', {}, 'The configuration holds no certificate yet.'));
  const report = s.deploy;
  const byService = new Map(((report && report.services) || []).map((r) => [r.service, r]));
  const deploy = el('section', { class: 'card', 'aria-labelledby': 'dash-deploy' },
    el('h2', { id: 'dash-deploy' }, 'Deploy state per service'),
    el('p', {}, report ? `The worker last reported on version ${report.version} at ${report.time}.`
      : 'The worker has not reported yet.'),
    table([
      { label: 'Service', value: (x) => x.name },
      { label: 'Enabled', value: (x) => (x.enabled ? 'yes' : 'no') },
      { label: 'Last action', value: (x) => (byService.get(x.name) ? byService.get(x.name).action : 'unchanged') },
      { label: 'State', value: (x) => {
        const r = byService.get(x.name);
        if (!r) return report ? 'up to date' : 'unknown';
        return r.ok ? el('span', { class: 'tag good' }, 'ok') : el('span', { class: 'tag bad' }, `failed: ${r.error}`);
      } },
      { label: 'Changed', value: (x) => (byService.get(x.name) && report ? report.time : '') },
    ], services.data, 'Services'));
  const alerts = s.attention || [];
  const attention = el('section', { class: 'card', 'aria-labelledby': 'dash-attention', role: alerts.length ? 'alert' : null },
    el('h2', { id: 'dash-attention' }, 'Needs attention'),
    alerts.length ? table([
      { label: 'What', value: (a) => el('span', { class: 'tag bad' }, a.kind.replaceAll('_', ' ')) },
      { label: 'About', value: (a) => a.subject },
      { label: 'Details', value: (a) => a.message },
      { label: 'Since', value: (a) => time(a.since) },
    ], alerts, 'Conditions that need attention') : el('p', {}, 'Nothing: all is well.'));
  const dns = el('section', { 'aria-labelledby': 'dash-dns' }, el('h2', { id: 'dash-dns' }, 'DNS records per domain'),
    domains.data.length ? domains.data.map((d) => el('div', { class: 'card' }, el('h2', {}, d.name), dnsRecords(d)))
      : el('p', {}, 'No domain yet.'));
  page('Dashboard', blockedCard(notDeployable), attention, el('div', { class: 'grid' }, versions, certificate), deploy, dns);
}
