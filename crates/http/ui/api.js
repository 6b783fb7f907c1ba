// The API client. The access token lives in this module's memory only; the refresh token is in
// an HttpOnly cookie that no script can read (cookie mode of /auth/login and /auth/refresh).
// A reload restores the session through /auth/refresh, which needs the X-Requested-With header.

let session = null; // { token, expiresAt, user: { id, username, role } }
let refreshTimer = null;
let refreshing = null;
const listeners = new Set();

export const user = () => session?.user ?? null;
export const isAdmin = () => session?.user?.role === 'admin';
export const token = () => session?.token ?? null;
export function onSessionChange(fn) { listeners.add(fn); }
const emit = () => listeners.forEach((fn) => fn(user()));

/** A failed request: `status`, the problem document, and the field errors if any. */
export class ApiError extends Error {
  constructor(status, problem, headers) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.errors = problem?.errors || [];
    this.retryAfter = Number(headers?.get('retry-after')) || null;
  }
}

const CSRF = { 'X-Requested-With': 'bookstore-ui' };

async function tokenCall(path, body) {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...CSRF },
    body: JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data, res.headers);
  return data;
}

async function adopt(tokens) {
  const known = session?.user ?? null;
  session = { token: tokens.access_token, expiresAt: Date.now() + tokens.expires_in * 1000, user: known };
  // A refresh keeps the same user: screens are told only when someone signs in.
  if (!known) session.user = (await request('/auth/me')).body;
  // Refresh a minute before the access token runs out (or halfway for short ones).
  clearTimeout(refreshTimer);
  const lead = Math.min(60, tokens.expires_in / 2) * 1000;
  refreshTimer = setTimeout(() => refresh().catch(() => {}), Math.max(5000, tokens.expires_in * 1000 - lead));
  if (!known) emit();
}

export async function signIn(username, password) {
  const tokens = await tokenCall('/auth/login', { username, password, refresh_cookie: true });
  await adopt(tokens);
}

/** A new access token from the cookie. One at a time, across tabs too (Web Locks): two tabs
 * presenting the same refresh token at once would look like a stolen token being replayed. */
export function refresh() {
  refreshing ||= (async () => {
    const run = async () => adopt(await tokenCall('/auth/refresh', { refresh_cookie: true }));
    try {
      if (navigator.locks) await navigator.locks.request('bookstore-refresh', run);
      else await run();
    } finally { refreshing = null; }
  })();
  return refreshing;
}

/** On page load: is there a sign-in to resume? */
export async function resume() {
  try { await refresh(); return true; } catch { return false; }
}

export async function signOut() {
  const t = token();
  forget();
  if (t) {
    await fetch('/auth/logout', {
      method: 'POST',
      headers: { Authorization: `Bearer ${t}`, 'Content-Type': 'application/json', ...CSRF },
      body: JSON.stringify({ refresh_cookie: true }),
      credentials: 'same-origin',
    }).catch(() => {});
  }
}

/** Drops the session from memory (signed out, or the server ended it). */
export function forget() {
  session = null;
  clearTimeout(refreshTimer);
  emit();
}

const VERSIONED = /^\/(books|authors|genres|locations|stocktakes)(\/|\?|$)/;

/**
 * A request with the access token. `opts`: method, body (JSON unless a string/Blob), headers,
 * accept, signal, as ('json' | 'text' | 'blob'). Resolves { status, body, headers, etag };
 * throws ApiError on 4xx/5xx. A 401 is retried once after a refresh.
 */
export async function request(path, opts = {}, retried = false) {
  const headers = { ...(opts.headers || {}) };
  headers.Accept = opts.accept || (VERSIONED.test(path) ? 'application/vnd.bookstore.v2+json' : 'application/json');
  if (session?.token) headers.Authorization = `Bearer ${session.token}`;
  let body = opts.body;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Blob)) {
    body = JSON.stringify(body);
    headers['Content-Type'] ||= 'application/json';
  }
  const res = await fetch(path, { method: opts.method || 'GET', headers, body, signal: opts.signal, cache: 'no-store' });
  if (res.status === 401 && !retried && session && !path.startsWith('/auth/')) {
    try { await refresh(); } catch { forget(); throw new ApiError(401, { detail: 'Your session has ended: sign in again.' }); }
    return request(path, opts, true);
  }
  const type = res.headers.get('content-type') || '';
  let data = null;
  if (res.status !== 204 && res.status !== 304) {
    if (opts.as === 'blob') data = await res.blob();
    else if (opts.as === 'text' || !type.includes('json')) data = await res.text();
    else data = await res.json().catch(() => null);
  }
  if (!res.ok) throw new ApiError(res.status, typeof data === 'object' ? data : { detail: String(data || '') }, res.headers);
  return { status: res.status, body: data, headers: res.headers, etag: res.headers.get('etag') };
}

export const get = (path, opts) => request(path, opts).then((r) => r.body);

/** Query string from an object, leaving out empty values. */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The sign-in answers in words. */
export function explain(err) {
  if (!(err instanceof ApiError)) return 'The server could not be reached. Check the connection and try again.';
  const type = err.problem.type || '';
  const wait = err.retryAfter ? ` Try again in ${err.retryAfter} second${err.retryAfter === 1 ? '' : 's'}.` : '';
  if (type.endsWith('/too-many-sign-ins')) return `Too many failed sign-ins for this account or from this computer: signing in is paused for a while to protect the account.${wait}`;
  if (err.status === 429) return `Too many requests from this computer in a short time.${wait}`;
  if (type.endsWith('/invalid-credentials')) return 'Wrong username or password (or the account is disabled).';
  if (err.status === 403) return 'Your role is not allowed to do that.';
  if (err.status === 503) return 'The server is not ready (its database is unreachable). Try again shortly.';
  return err.message;
}
