// The one way the application talks to the server: the REST API under /api/v1 with the access
// token of this tab (sessionStorage: it is gone when the tab closes). Every failure becomes an
// ApiError whose message is a readable sentence; `errors` maps fields to problems (400s).

import { el, notice } from './dom.js';

const KEY = 'mailu-git-token';

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, message, errors = {}) {
    super(message);
    this.status = status;
    this.errors = errors;
  }
}

// What a status means for the person in front of the page, when the server's message is not enough.
function explain(status, message) {
  switch (status) {
    case 0: return 'The server cannot be reached (it may be stopped or restarting), so nothing is '
      + 'confirmed as saved; what you typed is still here. Try again in a moment.';
    case 401: return 'You are not signed in. Sign in with an access token.';
    case 403: return message === 'Invalid API token'
      ? 'The server did not accept this access token (it is wrong or was revoked). Sign in again.'
      : `This access token may not do that: ${message}`;
    case 412: return 'Someone else changed this since you opened it, so nothing was saved (412). '
      + 'Your form still holds your values: reload the current values to compare, then save again.';
    case 429: return 'Too many failed sign-in attempts from this address; wait a minute and try again.';
    case 503: return `The server does not accept changes right now: ${message}`;
    default: return message || `The server answered ${status}.`;
  }
}

// Sends one request. path: below /api/v1 ("domain?q=x"). opts: {method, body (JSON unless
// raw), raw (string body), ifMatch, headers}. Resolves {status, data, etag, total, headers}.
export async function api(path, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  const t = opts.token === undefined ? token() : opts.token;
  if (t) headers.Authorization = `Bearer ${t}`;
  if (opts.ifMatch) headers['If-Match'] = opts.ifMatch;
  let body;
  if (opts.raw !== undefined) {
    body = opts.raw;
    headers['Content-Type'] = headers['Content-Type'] || 'application/octet-stream';
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['Content-Type'] = 'application/json';
  }
  let response;
  try {
    response = await fetch(`/api/v1/${path}`, { method: opts.method || 'GET', headers, body,
      cache: 'no-store' });
  } catch {
    throw new ApiError(0, explain(0));
  }
  const text = await response.text().catch(() => '');
  let data = null;
  const type = response.headers.get('Content-Type') || '';
  if (type.includes('json') && text) {
    try { data = JSON.parse(text); } catch { data = null; }
  } else data = text;
  if (!response.ok) {
    const message = data && typeof data === 'object' && data.message ? data.message : text.trim();
    const errors = data && typeof data === 'object' && data.errors ? data.errors : {};
    const err = new ApiError(response.status, explain(response.status, message), errors);
    const signedOut = response.status === 401 || (response.status === 403 && message === 'Invalid API token');
    // A sign-in attempt (its own token) handles its refusal itself.
    if (signedOut && opts.token === undefined) {
      window.dispatchEvent(new CustomEvent('mailu-git-signed-out', { detail: err.message }));
    }
    throw err;
  }
  const total = response.headers.get('X-Total-Count');
  return { status: response.status, data, etag: response.headers.get('ETag'),
    total: total === null ? null : Number(total), headers: response.headers };
}

export const get = (path) => api(path);

// Encodes one path segment (addresses, names).
export const seg = (s) => encodeURIComponent(s);

// Shows what a write became: "saved, will deploy in N s", then the version, polling the change
// (bounded). `reply` is the write's answer ({message, change}).
export async function tracked(reply, what) {
  const data = reply.data || {};
  const message = data.message || what || 'Saved';
  if (!data.change) {
    return notice(`Saved: ${message}.`, 'ok');
  }
  let due = null;
  try {
    const pending = await api('pending');
    due = pending.data.due_in_ms;
  } catch { /* the notice below still says it is saved */ }
  const p = notice('', 'ok');
  // The sentence that changes once the version exists; callers may append to `p` (a new token).
  const line = el('span', {}, `Saved: ${message}. Will deploy in ${due === null || due === undefined
    ? 'a few' : Math.max(1, Math.ceil(due / 1000))} s.`);
  p.append(line);
  window.dispatchEvent(new Event('mailu-git-changed'));
  followChange(data.change, message, p, line);
  return p;
}

async function followChange(id, message, p, line) {
  for (let i = 0; i < 90; i += 1) {
    await new Promise((r) => setTimeout(r, 1000));
    let change;
    try {
      change = (await api(`change/${seg(id)}`)).data;
    } catch {
      continue;
    }
    if (change.status === 'committed') {
      let deployed = '';
      try {
        const status = (await api('status')).data;
        if (status.deployed && status.deployed.held) {
          deployed = ` Deployment is suspended (held at version ${status.deployed.version}): it is not deployed yet.`;
        }
      } catch { /* the version is still worth showing */ }
      line.textContent = `Saved: ${message}. It became version ${change.version}.${deployed}`;
      p.dataset.version = String(change.version);
      window.dispatchEvent(new Event('mailu-git-changed'));
      return;
    }
  }
}
