// The shell: hash routes, the signed-in frame, keyboard shortcuts, the barcode scanner and the
// live stream. Each screen is a module under views/ exporting render(main, params, query).
import * as api from './api.js';
import { h, replace, toast, confirmDialog } from './dom.js';
import { isbnOf } from './isbn.js';
import * as live from './live.js';

const main = document.getElementById('main');
const top = document.getElementById('top');

const routes = [
  [/^\/$/, 'search'],
  [/^\/books\/new$/, 'edit'],
  [/^\/books\/([^/]+)\/edit$/, 'edit'],
  [/^\/books\/([^/]+)$/, 'book'],
  [/^\/reorder$/, 'reorder'],
  [/^\/stocktakes$/, 'stocktake'],
  [/^\/stocktakes\/([^/]+)$/, 'stocktake'],
  [/^\/imports$/, 'imports'],
  [/^\/imports\/([^/]+)$/, 'imports'],
  [/^\/users$/, 'users'],
  [/^\/webhooks$/, 'webhooks'],
  [/^\/audit$/, 'audit'],
];

let cleanup = null;
let renderSeq = 0;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  return { path, query: new URLSearchParams(query) };
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  const seq = ++renderSeq;
  if (typeof cleanup === 'function') cleanup();
  cleanup = null;
  if (!api.user()) {
    top.hidden = true;
    const { render } = await import('./views/signin.js');
    if (seq === renderSeq) cleanup = await render(main);
    ready();
    return;
  }
  top.hidden = false;
  const { path, query } = parseHash();
  const match = routes.map(([re, name]) => [path.match(re), name]).find(([m]) => m);
  if (!match) { replace(main, h('h1', 'Not found'), h('p', h('a', { href: '#/' }, 'Back to search'))); return; }
  const [[, ...params], name] = match;
  for (const a of top.querySelectorAll('nav a:not(.brand)')) {
    if (a.getAttribute('href') === `#/${path.split('/')[1] || ''}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  try {
    const view = await import(`./views/${name}.js`);
    if (seq !== renderSeq) return;
    cleanup = await view.render(main, params.map(decodeURIComponent), query);
  } catch (err) {
    if (seq !== renderSeq) return;
    replace(main, h('h1', 'Something went wrong'), h('p.error', api.explain(err)));
  }
  if (seq === renderSeq && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
  ready();
}

// When the first screen is on display (bench/ui reads it from the performance timeline).
function ready() {
  if (!performance.getEntriesByName('bookstore:ready').length) performance.mark('bookstore:ready');
}

// The signed-in frame follows the session: signed out (or ended by the server), nothing
// private stays on screen or in memory; the back button then shows the sign-in form.
let signingOut = false;
let signedIn = false;
api.onSessionChange((u) => {
  if (!u && signedIn && !signingOut) toast('Your sign-in has ended (expired, or ended elsewhere): sign in again.', 'error');
  signedIn = !!u;
  if (u) {
    replace(document.getElementById('who'), `${u.username} (${u.role})`);
    for (const a of top.querySelectorAll('[data-admin]')) a.hidden = u.role !== 'admin';
    live.start();
  } else {
    live.stop();
    replace(main);
    replace(document.getElementById('who'));
  }
  route();
});

document.getElementById('signout').addEventListener('click', async () => {
  signingOut = true;
  await api.signOut().finally(() => { signingOut = false; });
  history.replaceState(null, '', '#/');
  toast('Signed out.');
});

window.addEventListener('hashchange', route);
// A page restored from the back/forward cache: only what the session allows now.
window.addEventListener('pageshow', (e) => { if (e.persisted) route(); });

// Keyboard: "/" focuses the search box from anywhere (not while typing in a field).
const typing = (el) => el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
document.addEventListener('keydown', (e) => {
  if (e.key === '/' && !typing(e.target) && !e.ctrlKey && !e.metaKey && !e.altKey && api.user()) {
    e.preventDefault();
    const box = document.getElementById('search-q');
    if (box) box.focus();
    else { sessionStorage.setItem('focus-search', '1'); go('#/'); }
  }
});

// The barcode scanner: a keyboard that types an ISBN or EAN-13 far faster than a person (on
// average under 60 ms a key, no pause over 250 ms), then Enter. Anywhere (except a field that
// takes scans itself, data-scan), that opens the book, or offers to create it.
const scan = { keys: '', first: 0, last: 0 };
document.addEventListener('keydown', async (e) => {
  if (!api.user() || e.target.closest?.('[data-scan]') || e.ctrlKey || e.metaKey || e.altKey) return;
  const now = performance.now();
  if (/^[0-9Xx-]$/.test(e.key)) {
    if (now - scan.last > 250) { scan.keys = ''; scan.first = now; }
    scan.keys += e.key;
    scan.last = now;
    return;
  }
  if (e.key !== 'Enter') { scan.keys = ''; return; }
  const typed = scan.keys;
  const fast = typed.length > 1 && (scan.last - scan.first) / (typed.length - 1) < 60 && now - scan.last < 250;
  scan.keys = '';
  const isbn = fast && typed.replace(/-/g, '').length >= 10 && isbnOf(typed);
  if (!isbn) return;
  e.preventDefault();
  e.stopPropagation();
  // The digits went into whatever field had focus: take them back out.
  if (typing(e.target) && e.target.value?.endsWith(typed)) e.target.value = e.target.value.slice(0, -typed.length);
  openIsbn(isbn);
}, true);

export async function openIsbn(isbn) {
  try {
    const book = await api.get(`/books/isbn/${isbn}`);
    go(`#/books/${book.id}`);
  } catch (err) {
    if (err.status !== 404) { toast(api.explain(err), 'error'); return; }
    if (api.isAdmin() && await confirmDialog('No such book', `No book has ISBN ${isbn}. Create it?`, 'Create book')) {
      go(`#/books/new?isbn=${isbn}`);
    } else if (!api.isAdmin()) toast(`No book has ISBN ${isbn}.`, 'error');
  }
}

// Start: resume a sign-in from the refresh cookie, else show the sign-in form.
(async () => {
  if (!(await api.resume())) route();
})();
